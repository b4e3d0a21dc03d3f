"""Tokens, roles and the authenticator's decisions, with in-memory stores: every way a credential
can fail, the roles a request ends up with, throttling before any lookup, and logs that never
carry a token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from services.admin.auth import (
    Actor,
    Authenticator,
    Role,
    bearer,
    effective_roles,
    grants,
    mint_token,
    operator,
    require,
    token_hash,
    token_id_of,
    token_usable,
)
from services.admin.errors import Forbidden, NotAuthenticated, TooManyAttempts
from services.admin.settings import AdminSettings
from shared.clock import ManualClock
from shared.mongo import Document

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
BOOTSTRAP = "bootstrap-token-for-unit-tests-000"


class Tokens:
    def __init__(self) -> None:
        self.rows: dict[str, Document] = {}
        self.looked_up: list[str] = []
        self.touched: list[str] = []

    async def get(self, token_id: str) -> Document | None:
        self.looked_up.append(token_id)
        return self.rows.get(token_id)

    async def touch(self, token_id: str, now: datetime, interval: timedelta) -> None:
        self.touched.append(token_id)


class Users:
    def __init__(self) -> None:
        self.rows: dict[str, Document] = {}

    async def user(self, user_id: str) -> Document | None:
        return self.rows.get(user_id)


class Failures:
    def __init__(self) -> None:
        self.recorded: list[str] = []
        self.blocked: timedelta | None = None

    async def blocked_for(self, client: str, now: datetime) -> timedelta | None:
        return self.blocked

    async def record(self, client: str, now: datetime) -> None:
        self.recorded.append(client)


class World:
    def __init__(self, settings: AdminSettings | None = None) -> None:
        self.tokens, self.users, self.failures = Tokens(), Users(), Failures()
        self.clock = ManualClock(NOW)
        self.auth = Authenticator(
            self.tokens,
            self.users,
            self.failures,
            self.clock,
            settings or AdminSettings(bootstrap_token=BOOTSTRAP),
        )

    def issue(self, user_roles: list[str], token_roles: list[str], **row: object) -> str:
        minted = mint_token()
        self.users.rows["u1"] = {"_id": "u1", "roles": user_roles}
        self.tokens.rows[minted.token_id] = {
            "_id": minted.token_id,
            "hash": minted.token_hash,
            "user_id": "u1",
            "roles": token_roles,
            "expires_at": NOW + timedelta(days=1),
            "revoked_at": None,
            **row,
        }
        return minted.token


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


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc", "abc"),
        ("bearer   abc  ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("Bearer    ", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_credentials(header: str | None, expected: str | None) -> None:
    assert bearer(header) == expected


def test_admin_may_do_everything_and_support_only_support_things() -> None:
    assert grants([Role.ADMIN], Role.SUPPORT)
    assert grants([Role.ADMIN], Role.ADMIN)
    assert grants([Role.SUPPORT], Role.SUPPORT)
    assert not grants([Role.SUPPORT], Role.ADMIN)
    assert not grants([], Role.SUPPORT)
    support = Actor(kind="token", id="t", user_id="u", roles=frozenset({Role.SUPPORT}))
    require(support, Role.SUPPORT)
    with pytest.raises(Forbidden):
        require(support, Role.ADMIN)
    assert not support.sees_pii
    assert operator("me@host").sees_pii


def test_a_request_gets_the_roles_both_its_token_and_its_owner_hold() -> None:
    assert effective_roles(["admin", "support"], ["support"]) == {Role.SUPPORT}
    assert effective_roles(["admin"], ["support"]) == frozenset()
    assert effective_roles(["admin", "owner"], ["admin", "owner"]) == {Role.ADMIN}


def test_revoked_and_expired_tokens_are_unusable() -> None:
    assert token_usable({"expires_at": NOW + timedelta(seconds=1)}, NOW) is None
    assert token_usable({"expires_at": NOW}, NOW) == "expired"
    assert token_usable({"revoked_at": NOW, "expires_at": NOW + timedelta(1)}, NOW) == "revoked"


async def test_a_valid_token_becomes_an_actor_and_its_use_is_recorded() -> None:
    world = World()
    token = world.issue(["admin", "support"], ["support"])
    actor = await world.auth.authenticate(f"Bearer {token}", "10.0.0.1")
    assert actor == Actor(
        kind="token", id=token_id_of(token) or "", user_id="u1", roles=frozenset({Role.SUPPORT})
    )
    assert world.tokens.touched == [actor.id]
    assert world.failures.recorded == []


@pytest.mark.parametrize(
    "spoil",
    ["wrong_secret", "unknown_id", "expired", "revoked", "owner_gone", "garbage"],
)
async def test_every_bad_credential_is_refused_and_counted(spoil: str) -> None:
    world = World()
    token = world.issue(["admin"], ["admin"])
    token_id = token_id_of(token)
    assert token_id is not None
    if spoil == "wrong_secret":
        token = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    elif spoil == "unknown_id":
        token = token.replace(token_id, "f" * 12 if token_id != "f" * 12 else "e" * 12)
    elif spoil == "expired":
        world.clock.advance(timedelta(days=1))
    elif spoil == "revoked":
        world.tokens.rows[token_id]["revoked_at"] = NOW
    elif spoil == "owner_gone":
        world.users.rows.clear()
    else:
        token = "not a token at all"
    with capture_logs() as logs, pytest.raises(NotAuthenticated):
        await world.auth.authenticate(f"Bearer {token}", "10.0.0.9")
    assert world.failures.recorded == ["10.0.0.9"]
    assert world.tokens.touched == []
    (entry,) = logs
    assert entry["event"] == "admin authentication failed"
    assert token not in repr(entry)


async def test_a_missing_header_is_refused_without_counting_a_failure() -> None:
    world = World()
    with pytest.raises(NotAuthenticated):
        await world.auth.authenticate(None, "10.0.0.1")
    assert world.failures.recorded == []


async def test_a_throttled_client_is_refused_before_any_lookup() -> None:
    world = World()
    token = world.issue(["admin"], ["admin"])
    world.failures.blocked = timedelta(seconds=12.2)
    with pytest.raises(TooManyAttempts) as refused:
        await world.auth.authenticate(f"Bearer {token}", "10.0.0.1")
    assert refused.value.retry_after_seconds == 13
    assert world.tokens.looked_up == []


async def test_only_the_configured_bootstrap_token_bootstraps() -> None:
    world = World()
    await world.auth.check_bootstrap(f"Bearer {BOOTSTRAP}", "10.0.0.1")
    with pytest.raises(NotAuthenticated):
        await world.auth.check_bootstrap(f"Bearer {BOOTSTRAP}x", "10.0.0.1")
    api_token = world.issue(["admin"], ["admin"])
    with pytest.raises(Forbidden):
        await world.auth.check_bootstrap(f"Bearer {api_token}", "10.0.0.1")
    assert world.failures.recorded == ["10.0.0.1"]

    unconfigured = World(AdminSettings(bootstrap_token=None))
    with pytest.raises(NotAuthenticated):
        await unconfigured.auth.check_bootstrap(f"Bearer {BOOTSTRAP}", "10.0.0.1")
    with pytest.raises(NotAuthenticated):
        await unconfigured.auth.check_bootstrap("Bearer ", "10.0.0.1")
