"""What the admin's writes may touch: its repositories and `emit`, in one transaction.

`AdminWork` is what an action's transaction body is annotated with; `MongoAdminWork` builds the
Mongo repositories (`store.py`) on the transaction's session, and `tests/fakes/admin.py` keeps
the same repositories in memory. `AdminRepositories` is the same set without `emit`: what a read
or a check before the transaction uses (`MongoAdminRepositories(db)`, no session).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession

from services.admin.records import Actor, ApiToken, AuditEntry, Operator, Role
from services.admin.store import MongoAdminState, MongoApiTokens, MongoAuditLog, MongoOperators
from shared.events import Envelope
from shared.mongo import Database
from shared.outbox import Outbox
from shared.unit_of_work import Emits, UnitOfWork

_T = TypeVar("_T")


class Operators(Protocol):
    async def get(self, operator_id: str) -> Operator | None: ...

    async def by_phone(self, phone: str) -> Operator | None: ...

    async def add(self, operator: Operator) -> Operator:
        """The operator already there for `operator.phone`, else `operator`, now stored."""
        ...

    async def grant(self, operator_id: str, role: Role, now: datetime) -> bool: ...

    async def revoke(self, operator_id: str, role: Role, now: datetime) -> bool: ...

    async def holders(self, role: Role, limit: int) -> int:
        """How many operators hold `role`, counting no further than `limit`."""
        ...


class ApiTokens(Protocol):
    async def add(self, token: ApiToken) -> None: ...

    async def get(self, token_id: str) -> ApiToken | None: ...

    async def touch(self, token_id: str, now: datetime, interval: timedelta) -> None:
        """Record a use, at most once per `interval`."""
        ...

    async def revoke(self, token_id: str, by: Actor, now: datetime) -> bool:
        """False when the token is revoked already (or does not exist)."""
        ...

    async def listing(self, operator_id: str | None, limit: int) -> list[ApiToken]: ...


class AuditLog(Protocol):
    async def append(self, entry: AuditEntry) -> None: ...

    async def recent(self, limit: int, target_id: str | None = None) -> list[AuditEntry]: ...

    async def recorded(self, action: str, target: tuple[str, str]) -> bool: ...


class AdminState(Protocol):
    async def bootstrap_spent(self) -> bool: ...

    async def spend_bootstrap(self, operator_id: str, now: datetime) -> None:
        """Raises `BootstrapClosed` when it was spent already."""
        ...


class AdminRepositories(Protocol):
    """The admin's repositories. Read-only properties, so both the Mongo classes and the fakes
    satisfy the protocol with their own repository types."""

    @property
    def operators(self) -> Operators: ...
    @property
    def tokens(self) -> ApiTokens: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def state(self) -> AdminState: ...


class AdminWork(AdminRepositories, Emits, Protocol):
    """What an action's transaction holds: the repositories on its session, and `emit`."""

    async def emit(self, event: Envelope[Any], *, row_id: str | None = None) -> None:
        """Queue `event` in the admin's outbox; `row_id` publishes an event once more on
        purpose (re-requesting an exhausted send under its original event id)."""
        ...


class AdminTransactions(Protocol):
    """Runs a body in one transaction of `AdminWork` (`shared.unit_of_work.Transactions`)."""

    async def run(self, body: Callable[[AdminWork], Awaitable[_T]]) -> _T: ...


class MongoAdminRepositories:
    """The repositories over the admin's database, bound to `session` when given."""

    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self.operators = MongoOperators(db, session)
        self.tokens = MongoApiTokens(db, session)
        self.audit = MongoAuditLog(db, session)
        self.state = MongoAdminState(db, session)


class MongoAdminWork(MongoAdminRepositories, UnitOfWork):
    """One transaction: every repository on its session, events into its outbox."""

    def __init__(self, db: Database, session: AsyncClientSession, outbox: Outbox) -> None:
        UnitOfWork.__init__(self, session, outbox)
        MongoAdminRepositories.__init__(self, db, session)


def admin_work(db: Database) -> Callable[[AsyncClientSession, Outbox], MongoAdminWork]:
    """The factory `Transactions` builds each transaction's unit of work with."""

    def build(session: AsyncClientSession, outbox: Outbox) -> MongoAdminWork:
        return MongoAdminWork(db, session, outbox)

    return build
