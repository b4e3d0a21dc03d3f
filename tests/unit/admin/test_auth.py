"""Tokens, roles and the authenticator's decisions, with in-memory stores: every way a credential
can fail, the roles a request ends up with, throttling before any lookup, and logs that never
carry a token."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from services.admin.auth import (
    Actor,
    Authenticator,
    Role,
    effective_roles,
    grants,
    mint_token,
    operator,
    require,
    token_hash,
    token_id_of,
)
from services.admin.errors import Forbidden, NotAuthenticated, TooManyAttempts
from services.admin.records import ApiToken, Operator, roles_of
from services.admin.settings import AdminSettings
from shared.clock import ManualClock
from tests.fakes.admin import FakeApiTokens, FakeFailedAttempts, FakeOperators

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
BOOTSTRAP = "bootstrap-token-for-unit-tests-000"
FAILURE_LIMIT = 3
WINDOW = timedelta(seconds=60)


class LookedUpTokens(FakeApiTokens):
    """The fake, remembering which ids were looked up (a throttled client causes none)."""

    def __init__(self) -> None:
        super().__init__()
        self.looked_up: list[str] = []

    async def get(self, token_id: str) -> ApiToken | None:
        self.looked_up.append(token_id)
        return await super().get(token_id)


class World:
    def __init__(self, settings: AdminSettings | None = None) -> None:
        self.tokens, self.operators = LookedUpTokens(), FakeOperators()
        self.failures = FakeFailedAttempts(limit=FAILURE_LIMIT, window=WINDOW)
        self.clock = ManualClock(NOW)
        self.auth = Authenticator(
            self.tokens,
            self.operators,
            self.failures,
            self.clock,
            settings or AdminSettings(bootstrap_token=BOOTSTRAP),
        )

    def issue(self, operator_roles: set[Role], token_roles: set[Role]) -> str:
        minted = mint_token()
        self.operators.rows["op1"] = Operator(
            id="op1",
            phone="+15555550100",
            roles=frozenset(operator_roles),
            created_at=NOW,
            updated_at=NOW,
        )
        self.tokens.rows[minted.token_id] = ApiToken(
            id=minted.token_id,
            hash=minted.token_hash,
            operator_id="op1",
            roles=frozenset(token_roles),
            name=None,
            created_at=NOW,
            created_by="tests",
            expires_at=NOW + timedelta(days=1),
        )
        return minted.token

    def used(self) -> list[str]:
        """Tokens whose use was recorded."""
        return [t.id for t in self.tokens.rows.values() if t.last_used_at is not None]


def test_a_minted_token_names_its_row_and_is_stored_only_as_its_hash() -> None:
    minted = mint_token()
    assert minted.token.startswith(f"gca_{minted.token_id}_")
    assert token_id_of(minted.token) == minted.token_id
    assert minted.token_hash == token_hash(minted.token)
    assert minted.token not in minted.token_hash
    assert len(minted.token.split("_", 2)[2]) == 43  # 256 bits, base64url
    assert mint_token().token != minted.token


@pytest.mark.parametrize(
    "text",
    ["", "gca", "gca__secret", "xyz_0123456789ab_secret", "gca_0123456789AB_secret", "gca_0123_s"],
)
def test_malformed_tokens_have_no_id(text: str) -> None:
    assert token_id_of(text) is None
    assert token_id_of("gca_0123456789ab_") is None


def test_admin_may_do_everything_and_support_only_support_things() -> None:
    assert grants([Role.ADMIN], Role.SUPPORT)
    assert grants([Role.ADMIN], Role.ADMIN)
    assert grants([Role.SUPPORT], Role.SUPPORT)
    assert not grants([Role.SUPPORT], Role.ADMIN)
    assert not grants([], Role.SUPPORT)
    support = Actor(kind="token", id="t", operator_id="u", roles=frozenset({Role.SUPPORT}))
    require(support, Role.SUPPORT)
    with pytest.raises(Forbidden):
        require(support, Role.ADMIN)
    assert not support.sees_pii
    assert operator("me@host").sees_pii


def test_a_request_gets_the_roles_both_its_token_and_its_owner_hold() -> None:
    both = {Role.ADMIN, Role.SUPPORT}
    assert effective_roles(both, {Role.SUPPORT}) == {Role.SUPPORT}
    assert effective_roles({Role.ADMIN}, {Role.SUPPORT}) == frozenset()
    # A stored role this code does not know grants nothing.
    assert roles_of(["admin", "owner"]) == {Role.ADMIN}


def test_revoked_and_expired_tokens_are_unusable() -> None:
    world = World()
    token = world.tokens.rows[token_id_of(world.issue({Role.ADMIN}, {Role.ADMIN})) or ""]
    assert token.unusable(token.expires_at - timedelta(seconds=1)) is None
    assert token.unusable(token.expires_at) == "expired"
    assert dataclasses.replace(token, revoked_at=NOW).unusable(NOW) == "revoked"


async def test_a_valid_token_becomes_an_actor_and_its_use_is_recorded() -> None:
    world = World()
    token = world.issue({Role.ADMIN, Role.SUPPORT}, {Role.SUPPORT})
    actor = await world.auth.authenticate(token, "10.0.0.1")
    assert actor == Actor(
        kind="token",
        id=token_id_of(token) or "",
        operator_id="op1",
        roles=frozenset({Role.SUPPORT}),
    )
    assert world.used() == [actor.id]
    assert world.failures.times == {}


async def test_an_operator_losing_a_role_loses_it_on_every_token_at_once() -> None:
    world = World()
    token = world.issue({Role.ADMIN, Role.SUPPORT}, {Role.ADMIN, Role.SUPPORT})
    assert await world.operators.revoke("op1", Role.ADMIN, NOW)
    actor = await world.auth.authenticate(token, "10.0.0.1")
    assert actor.roles == {Role.SUPPORT}


@pytest.mark.parametrize(
    "spoil",
    ["wrong_secret", "unknown_id", "expired", "revoked", "owner_gone", "garbage"],
)
async def test_every_bad_credential_is_refused_and_counted(spoil: str) -> None:
    world = World()
    token = world.issue({Role.ADMIN}, {Role.ADMIN})
    token_id = token_id_of(token)
    assert token_id is not None
    if spoil == "wrong_secret":
        token = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    elif spoil == "unknown_id":
        token = token.replace(token_id, "f" * 12 if token_id != "f" * 12 else "e" * 12)
    elif spoil == "expired":
        world.clock.advance(timedelta(days=1))
    elif spoil == "revoked":
        world.tokens.rows[token_id] = dataclasses.replace(
            world.tokens.rows[token_id], revoked_at=NOW
        )
    elif spoil == "owner_gone":
        world.operators.rows.clear()
    else:
        token = "not a token at all"
    with capture_logs() as logs, pytest.raises(NotAuthenticated):
        await world.auth.authenticate(token, "10.0.0.9")
    assert list(world.failures.times) == ["10.0.0.9"]
    assert world.used() == []
    (entry,) = logs
    assert entry["event"] == "admin authentication failed"
    assert token not in repr(entry)


async def test_no_token_is_refused_without_counting_a_failure() -> None:
    world = World()
    with pytest.raises(NotAuthenticated):
        await world.auth.authenticate(None, "10.0.0.1")
    assert world.failures.times == {}


async def test_a_throttled_client_is_refused_before_any_lookup() -> None:
    world = World()
    token = world.issue({Role.ADMIN}, {Role.ADMIN})
    for _ in range(FAILURE_LIMIT):
        await world.failures.record("10.0.0.1", NOW - WINDOW + timedelta(seconds=12.2))
    with pytest.raises(TooManyAttempts) as refused:
        await world.auth.authenticate(token, "10.0.0.1")
    assert refused.value.retry_after_seconds == 13
    assert world.tokens.looked_up == []


async def test_only_the_configured_bootstrap_token_bootstraps() -> None:
    world = World()
    await world.auth.check_bootstrap(BOOTSTRAP, "10.0.0.1")
    with pytest.raises(NotAuthenticated):
        await world.auth.check_bootstrap(f"{BOOTSTRAP}x", "10.0.0.1")
    api_token = world.issue({Role.ADMIN}, {Role.ADMIN})
    with pytest.raises(Forbidden):
        await world.auth.check_bootstrap(api_token, "10.0.0.1")
    assert [len(times) for times in world.failures.times.values()] == [1]

    unconfigured = World(AdminSettings(bootstrap_token=None))
    with pytest.raises(NotAuthenticated):
        await unconfigured.auth.check_bootstrap(BOOTSTRAP, "10.0.0.1")
    with pytest.raises(NotAuthenticated):
        await unconfigured.auth.check_bootstrap("", "10.0.0.1")
