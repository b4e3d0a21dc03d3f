"""Who is calling and what they may do: roles, API tokens and the bootstrap token.

Roles live in the database (`users.roles`); a token names its owner user and the roles it may
use, and a request gets the roles both grant, so revoking a user's role takes effect on their
next request. Tokens are random (256 bits), shown once and stored only as a SHA-256 hash under a
short public id. A fast hash is enough for a secret with that much entropy — nobody can search
2^256 preimages — and a slow KDF would only add latency to every request. Every comparison of
secrets is constant-time; failed attempts are counted per client and over a limit refused (429)
before any token is looked at.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Literal, NoReturn, Protocol

import structlog

from services.admin.errors import Forbidden, NotAuthenticated, TooManyAttempts
from services.admin.settings import AdminSettings
from shared.clock import Clock
from shared.mongo import Document

log = structlog.get_logger(__name__)

# The public prefix of every API token, so leaked ones are easy to spot (secret scanners).
TOKEN_SCHEME: Final = "gca"  # noqa: S105 - a label, not a secret
_TOKEN_ID_BYTES: Final = 6
_TOKEN_SECRET_BYTES: Final = 32


class Role(StrEnum):
    ADMIN = "admin"
    SUPPORT = "support"


def grants(held: Iterable[Role], needed: Role) -> bool:
    """`admin` may do everything; `support` only what is declared for support (the reads)."""
    roles = set(held)
    return Role.ADMIN in roles or needed in roles


@dataclass(frozen=True)
class Actor:
    """The caller of an admin operation, as the audit log records them."""

    kind: Literal["token", "bootstrap", "operator"]
    # The token id, "bootstrap", or `cli:<os user>@<host>` for the local operator.
    id: str
    user_id: str | None
    roles: frozenset[Role]

    def may(self, needed: Role) -> bool:
        return grants(self.roles, needed)

    @property
    def sees_pii(self) -> bool:
        """Phone numbers, names and message bodies in full: admins only."""
        return self.may(Role.ADMIN)

    def as_document(self) -> Document:
        return {
            "kind": self.kind,
            "id": self.id,
            "user_id": self.user_id,
            "roles": sorted(self.roles),
        }


def require(actor: Actor, needed: Role) -> None:
    if not actor.may(needed):
        raise Forbidden(f"needs the {needed.value} role")


def operator(name: str) -> Actor:
    """The person at the CLI: whoever can reach the database already has every power."""
    return Actor(kind="operator", id=f"cli:{name}", user_id=None, roles=frozenset({Role.ADMIN}))


BOOTSTRAP_ACTOR: Final = Actor(kind="bootstrap", id="bootstrap", user_id=None, roles=frozenset())


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


def bearer(authorization: str | None) -> str | None:
    """The credentials of an `Authorization: Bearer …` header, else None."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def effective_roles(token_roles: Iterable[str], user_roles: Iterable[str]) -> frozenset[Role]:
    """What a request may do: the roles the token carries *and* its owner still holds."""
    known = {role.value for role in Role}
    return frozenset(Role(r) for r in set(token_roles) & set(user_roles) if r in known)


def token_usable(row: Document, now: datetime) -> str | None:
    """Why a stored token may not be used now, or None when it may."""
    if row.get("revoked_at") is not None:
        return "revoked"
    expires_at = row.get("expires_at")
    if expires_at is not None and expires_at <= now:
        return "expired"
    return None


# --- authentication ----------------------------------------------------------------------------


class TokenRows(Protocol):
    async def get(self, token_id: str) -> Document | None: ...

    async def touch(self, token_id: str, now: datetime, interval: timedelta) -> None: ...


class UserRows(Protocol):
    async def user(self, user_id: str) -> Document | None: ...


class FailureLog(Protocol):
    async def blocked_for(self, client: str, now: datetime) -> timedelta | None: ...

    async def record(self, client: str, now: datetime) -> None: ...


class Authenticator:
    """Turns an `Authorization` header into an `Actor`, or refuses it."""

    def __init__(
        self,
        tokens: TokenRows,
        users: UserRows,
        failures: FailureLog,
        clock: Clock,
        settings: AdminSettings,
    ) -> None:
        self._tokens = tokens
        self._users = users
        self._failures = failures
        self._clock = clock
        self._settings = settings

    async def authenticate(self, authorization: str | None, client: str) -> Actor:
        now = self._clock.now()
        await self._throttle(client, now)
        presented = bearer(authorization)
        if presented is None:
            raise NotAuthenticated("send Authorization: Bearer <token>")
        found = await self._verify(presented, now)
        if isinstance(found, _Refusal):
            await self._refuse(client, now, found)
        await self._tokens.touch(
            found.id, now, timedelta(seconds=self._settings.last_used_interval_seconds)
        )
        return found

    async def check_bootstrap(self, authorization: str | None, client: str) -> None:
        """Pass only the configured bootstrap token (constant-time); an API token is told it
        cannot bootstrap (403); anything else counts as a failed attempt."""
        now = self._clock.now()
        await self._throttle(client, now)
        presented = bearer(authorization)
        if presented is None:
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
        row = await self._tokens.get(token_id) if token_id is not None else None
        if row is None or not hmac.compare_digest(token_hash(presented), row.get("hash", "")):
            return _Refusal("unknown token", None)
        unusable = token_usable(row, now)
        if unusable is not None:
            return _Refusal(f"{unusable} token", row["_id"])
        user = await self._users.user(row["user_id"])
        if user is None:
            return _Refusal("token owner no longer exists", row["_id"])
        return Actor(
            kind="token",
            id=row["_id"],
            user_id=row["user_id"],
            roles=effective_roles(row.get("roles", ()), user.get("roles", ())),
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
