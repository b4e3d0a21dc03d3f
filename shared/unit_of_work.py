"""The unit of work: one MongoDB transaction, seen by handlers only as repositories and `emit`.

Each service subclasses `UnitOfWork` to build its typed repositories on the transaction's
session (`uow.profiles`, `uow.sends`); handlers never hold a session, so no write can slip
outside the transaction. Emitted events are buffered and written to the outbox in one command
when the body is done. `Transactions` opens one unit per call and runs the body in it (and,
given the process's relay, publishes the unit's events right after the commit), and
`PlannedHandler` is the one shape for "do the slow work first (an LLM, a provider lookup), then
apply inside the transaction": the plan is made outside, and a plan whose inputs changed before
it could be applied raises `StalePlan` and is made again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession

from shared.events import Envelope
from shared.mongo import Document, MongoClient
from shared.outbox import Emitted, Outbox, OutboxRelay

_T = TypeVar("_T")
P = TypeVar("P")
PlanT = TypeVar("PlanT")


class Emits(Protocol):
    """What every unit of work offers besides its service's repositories. Each service declares
    its own protocol (`class BillingWork(Emits, Protocol): accounts: Accounts ...`), which its
    handlers take, and which both its Mongo unit of work and its in-memory fake satisfy."""

    async def emit(self, event: Envelope[Any]) -> None: ...


class UnitOfWork:
    """The Mongo side: emitted events join the transaction through the outbox and leave after
    it commits. Services subclass it to build their repositories on `session`."""

    def __init__(self, session: AsyncClientSession, outbox: Outbox) -> None:
        self._session = session
        self._outbox = outbox
        self._emitted: list[Emitted] = []

    async def emit(self, event: Envelope[Any], *, row_id: str | None = None) -> None:
        """Publish `event` once the transaction commits. `row_id` (default: the event id)
        lets a caller publish the same event once more on purpose."""
        self._emitted.append((event, row_id))

    @property
    def emits(self) -> bool:
        """Whether the body emitted anything (so `flush` writes to the outbox)."""
        return bool(self._emitted)

    async def flush(self, *, claimed: bool, marks: Sequence[str] = ()) -> list[Document]:
        """Write the buffered events into the outbox, one command, inside the transaction;
        the rows written (`claimed`: leased to this process, which publishes them itself).
        The same command marks `marks` sent (rows this process published since)."""
        emitted, self._emitted = self._emitted, []
        return await self._outbox.add_batch(emitted, self._session, claimed=claimed, marks=marks)

    @property
    def session(self) -> AsyncClientSession:
        """For the platform (inbox, outbox) only; services reach data through repositories."""
        return self._session


U = TypeVar("U", bound=UnitOfWork)
# Unbounded, so a handler is a `PlannedHandler` over its service's protocol (which the Mongo unit
# of work and the in-memory fake both satisfy), and the fakes' inbox can take it too.
U_contra = TypeVar("U_contra", contravariant=True)
UnitOfWorkFactory = Callable[[AsyncClientSession, Outbox], U]


class StalePlan(Exception):
    """What a plan was made from changed before it was applied (another event of the same
    caregiver won the race): the plan is made again."""


class PlannedHandler(Protocol[P, PlanT, U_contra]):
    """A handler in two steps: `plan` outside any transaction (slow calls, never retried by a
    write conflict), `apply` inside the unit of work (fast writes only)."""

    async def plan(self, event: Envelope[P]) -> PlanT: ...

    async def apply(self, event: Envelope[P], plan: PlanT, uow: U_contra) -> None: ...


class Transactions(Generic[U]):
    """Runs bodies each in its own transaction with a fresh unit of work. After the commit the
    emitted events leave at once: published here by `relay` (the process's own), or, without
    one, by the relay that the outbox wakes."""

    def __init__(
        self,
        client: MongoClient,
        outbox: Outbox,
        factory: UnitOfWorkFactory[U],
        *,
        relay: OutboxRelay | None = None,
    ) -> None:
        self._client = client
        self._outbox = outbox
        self._factory = factory
        self._relay = relay

    async def run(self, body: Callable[[U], Awaitable[_T]]) -> _T:
        return await self.run_in_session(lambda _session, uow: body(uow))

    async def run_in_session(self, body: Callable[[AsyncClientSession, U], Awaitable[_T]]) -> _T:
        """`run` for platform code that writes its own rows beside the unit's (the inbox)."""

        # The rows of the attempt that committed (a transient error runs the body again).
        written: list[Document] = []
        # "Sent" marks of rows published earlier, carried by this unit's outbox write when it
        # has one (no command of their own); given back unless an attempt that committed
        # wrote them.
        marks: list[str] = []
        carried = [False]

        async def in_session(session: AsyncClientSession) -> _T:
            uow = self._factory(session, self._outbox)
            result = await body(session, uow)
            carried[0] = uow.emits
            if uow.emits and not marks:
                marks.extend(self._outbox.take_marks())
            written[:] = await uow.flush(
                claimed=self._relay is not None, marks=marks if uow.emits else ()
            )
            return result

        try:
            async with self._client.start_session() as session:
                result: _T = await session.with_transaction(in_session)
        except BaseException:
            self._outbox.restore_marks(marks)
            raise
        if not carried[0]:
            self._outbox.restore_marks(marks)
        if written and self._relay is not None:
            await self._relay.publish_committed(written)
        elif written:
            self._outbox.notify()
        return result
