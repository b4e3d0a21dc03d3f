"""Who is calling and what they may do: roles, API tokens and the bootstrap token.

Roles live in the admin's own database, on its operators (`operators`, one per phone); a token
names its owner operator and the roles it may use, and a request gets the roles both grant, so
revoking an operator's role takes effect on their next request. Tokens are random (256 bits),
shown once and stored only as a SHA-256 hash under a short public id. A fast hash is enough for a
secret with that much entropy — nobody can search 2^256 preimages — and a slow KDF would only
add latency to every request. Every comparison of secrets is constant-time; failed attempts are
counted per client and over a limit refused (429) before any token is looked at.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, NoReturn, Protocol

import structlog

from services.admin.errors import Forbidden, NotAuthenticated, TooManyAttempts
from services.admin.records import Actor, ApiToken, Operator, Role, grants
from services.admin.settings import AdminSettings
from shared.clock import Clock

__all__ = [
    "BOOTSTRAP_ACTOR",
    "Actor",
    "Authenticator",
    "MintedToken",
    "Role",
    "effective_roles",
    "grants",
    "mint_token",
    "operator",
    "require",
    "token_hash",
    "token_id_of",
]

log = structlog.get_logger(__name__)

# The public prefix of every API token, so leaked ones are easy to spot (secret scanners).
TOKEN_SCHEME: Final = "gca"  # noqa: S105 - a label, not a secret
_TOKEN_ID_BYTES: Final = 6
_TOKEN_SECRET_BYTES: Final = 32


def require(actor: Actor, needed: Role) -> None:
    if not actor.may(needed):
        raise Forbidden(f"needs the {needed.value} role")


def operator(name: str) -> Actor:
    """The person at the CLI: whoever can reach the database already has every power."""
    return Actor(kind="operator", id=f"cli:{name}", operator_id=None, roles=frozenset({Role.ADMIN}))


BOOTSTRAP_ACTOR: Final = Actor(
    kind="bootstrap", id="bootstrap", operator_id=None, roles=frozenset()
)


# --- tokens ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MintedToken:
    token_id: str
    # The whole bearer token; shown to its owner once, never stored.
    token: str
    token_hash: str


def mint_token() -> MintedToken:
    """`gca_<public id>_<secret>`: the id finds the row, the hash of the whole token proves it."""
    token_id = secrets.token_hex(_TOKEN_ID_BYTES)
    token = f"{TOKEN_SCHEME}_{token_id}_{secrets.token_urlsafe(_TOKEN_SECRET_BYTES)}"
    return MintedToken(token_id, token, token_hash(token))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id_of(token: str) -> str | None:
    """The public id of a well-formed token, else None."""
    scheme, _, rest = token.partition("_")
    token_id, _, secret = rest.partition("_")
    if scheme != TOKEN_SCHEME or len(token_id) != 2 * _TOKEN_ID_BYTES or not secret:
        return None
    if any(char not in "0123456789abcdef" for char in token_id):
        return None
    return token_id


def effective_roles(token_roles: Iterable[Role], operator_roles: Iterable[Role]) -> frozenset[Role]:
    """What a request may do: the roles the token carries *and* its operator still holds."""
    return frozenset(token_roles) & frozenset(operator_roles)


# --- authentication ----------------------------------------------------------------------------


class TokenRows(Protocol):
    async def get(self, token_id: str) -> ApiToken | None: ...

    async def touch(self, token_id: str, now: datetime, interval: timedelta) -> None: ...


class OperatorRows(Protocol):
    async def get(self, operator_id: str) -> Operator | None: ...


class FailureLog(Protocol):
    async def blocked_for(self, client: str, now: datetime) -> timedelta | None: ...

    async def record(self, client: str, now: datetime) -> None: ...


class Authenticator:
    """Turns a presented bearer token into an `Actor`, or refuses it. The API takes the token
    from the `Authorization` header (its `HTTPBearer` scheme); the CLI presents one directly."""

    def __init__(
        self,
        tokens: TokenRows,
        operators: OperatorRows,
        failures: FailureLog,
        clock: Clock,
        settings: AdminSettings,
    ) -> None:
        self._tokens = tokens
        self._operators = operators
        self._failures = failures
        self._clock = clock
        self._settings = settings

    async def authenticate(self, presented: str | None, client: str) -> Actor:
        """The actor the bearer token `presented` (None: no credentials at all) stands for."""
        now = self._clock.now()
        await self._throttle(client, now)
        if not presented:
            raise NotAuthenticated("send Authorization: Bearer <token>")
        found = await self._verify(presented, now)
        if isinstance(found, _Refusal):
            await self._refuse(client, now, found)
        await self._tokens.touch(
            found.id, now, timedelta(seconds=self._settings.last_used_interval_seconds)
        )
        return found

    async def check_bootstrap(self, presented: str | None, client: str) -> None:
        """Pass only the configured bootstrap token (constant-time); an API token is told it
        cannot bootstrap (403); anything else counts as a failed attempt."""
        now = self._clock.now()
        await self._throttle(client, now)
        if not presented:
            raise NotAuthenticated("send Authorization: Bearer <bootstrap token>")
        configured = self._settings.bootstrap_token
        expected = configured.get_secret_value() if configured is not None else ""
        # Compared even when unset, so timing does not tell whether a bootstrap is configured.
        if hmac.compare_digest(presented.encode(), expected.encode()) and expected:
            return
        found = await self._verify(presented, now)
        if isinstance(found, _Refusal):
            await self._refuse(client, now, _Refusal("not the bootstrap token", found.token_id))
        raise Forbidden("an API token cannot bootstrap; use the bootstrap token")

    async def _verify(self, presented: str, now: datetime) -> Actor | _Refusal:
        """The actor a presented token stands for, or why it does not stand for one."""
        token_id = token_id_of(presented)
        token = await self._tokens.get(token_id) if token_id is not None else None
        if token is None or not hmac.compare_digest(token_hash(presented), token.hash):
            return _Refusal("unknown token", None)
        unusable = token.unusable(now)
        if unusable is not None:
            return _Refusal(f"{unusable} token", token.id)
        owner = await self._operators.get(token.operator_id)
        if owner is None:
            return _Refusal("token owner no longer exists", token.id)
        return Actor(
            kind="token",
            id=token.id,
            operator_id=token.operator_id,
            roles=effective_roles(token.roles, owner.roles),
        )

    async def _throttle(self, client: str, now: datetime) -> None:
        wait = await self._failures.blocked_for(client, now)
        if wait is not None:
            log.warning("admin authentication throttled", client=client)
            raise TooManyAttempts(max(1, int(wait.total_seconds() + 0.999)))

    async def _refuse(self, client: str, now: datetime, refusal: _Refusal) -> NoReturn:
        await self._failures.record(client, now)
        # Never the token itself: its public id at most, once it was found (`key_id`, because
        # the log pipeline redacts any key that mentions a token).
        log.warning(
            "admin authentication failed",
            client=client,
            reason=refusal.reason,
            key_id=refusal.token_id,
        )
        raise NotAuthenticated("invalid credentials")


@dataclass(frozen=True)
class _Refusal:
    reason: str
    token_id: str | None
