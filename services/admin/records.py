"""What the admin's repositories take and return, and who acts: one immutable record each.

The admin owns exactly these: operators and their roles (keyed by phone), API tokens, the audit
log and the spent bootstrap. Everything else it shows belongs to another service and is read
through that service's `views` module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal


class Role(StrEnum):
    ADMIN = "admin"
    SUPPORT = "support"


def roles_of(values: Iterable[str]) -> frozenset[Role]:
    """The known roles among stored strings (an unknown one grants nothing)."""
    known = {role.value for role in Role}
    return frozenset(Role(value) for value in values if value in known)


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
    # The operator the token belongs to (None for the bootstrap and the command line).
    operator_id: str | None
    roles: frozenset[Role]

    def may(self, needed: Role) -> bool:
        return grants(self.roles, needed)

    @property
    def sees_pii(self) -> bool:
        """Phone numbers, names and message bodies in full: admins only."""
        return self.may(Role.ADMIN)

    @property
    def who(self) -> str:
        """Who acted, as other services are told: the operator's id, else the actor's own id
        (the command line's `cli:…`) — never a phone number."""
        return self.operator_id or self.id

    def as_document(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "operator_id": self.operator_id,
            "roles": sorted(self.roles),
        }


@dataclass(frozen=True)
class Operator:
    """A person who may use the admin, known by phone (E.164, one operator per phone) whether or
    not they ever texted GiveCare, with the roles they hold now."""

    id: str
    phone: str
    roles: frozenset[Role]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ApiToken:
    """An API token as stored: its public id and the SHA-256 of the whole token, never the
    token. It may use at most `roles`, and only while its operator still holds them."""

    id: str
    hash: str = field(repr=False)
    operator_id: str
    roles: frozenset[Role]
    name: str | None
    created_at: datetime
    created_by: str
    expires_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    def unusable(self, now: datetime) -> str | None:
        """Why the token may not be used now, or None when it may."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return None


@dataclass(frozen=True)
class AuditEntry:
    """One admin write: who, what, on what, when — never a token, phone number or message."""

    id: str
    at: datetime
    actor: Actor
    action: str
    # (type, id): ("operator", …), ("token", …), ("user", …), ("alert", …), ("queue", …)
    target: tuple[str, str]
    details: Mapping[str, Any]


# An operator's request to billing is audited as one of these actions on target
# (`billing_request`, its id); the admin reads a request's kind back from its audit row.
BILLING_REQUEST: Final = "billing_request"
BILLING_RECONCILE: Final = "billing.reconcile"
BILLING_CHECKOUT_LINK: Final = "billing.checkout_link"
BILLING_ACTIONS: Final[Mapping[str, Literal["reconcile", "checkout_link"]]] = {
    BILLING_RECONCILE: "reconcile",
    BILLING_CHECKOUT_LINK: "checkout_link",
}
