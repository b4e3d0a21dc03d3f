"""The sender's unit of work: what its handlers may touch, and the Mongo transaction behind it.

Two kinds of write, on purpose (docs/sms_sender.md): what changes two documents or emits events
of no single send (a refused request's record, a reopen, a status callback, an opt-out) commits
in one transaction with what it publishes (`SenderWork`, run by `SenderTransactions`); the
request record, the claim, the send slot, the release for retry and every recorded outcome are
single conditional writes, so the dispatcher makes them on repositories built without a
session (`Claims`, `SendSlots`); an outcome keeps the `sms.send.updated` it publishes in its
own row until published (`shared.row_outbox`). No method takes a session: the
Mongo unit binds its repositories to the transaction's session when it builds them.
`tests/fakes/sms_sender.py` is the in-memory twin; `tests/integration/sms_sender/
test_*_contract.py` hold the two to the same behaviour.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession

from services.sms_sender.records import (
    CapPolicy,
    Claim,
    Gate,
    OptOut,
    Recipient,
    SendOutcome,
    SendRecord,
)
from services.sms_sender.store import MongoRecipients, MongoSends
from shared.events import Envelope
from shared.mongo import Database
from shared.outbox import Outbox
from shared.unit_of_work import Emits, UnitOfWork, UnitOfWorkFactory

_T = TypeVar("_T")


class Sends(Protocol):
    """`outbound_messages` inside a transaction: requests, outcomes, status callbacks."""

    async def get(self, key: str) -> SendRecord | None: ...

    async def record(self, send: SendRecord) -> bool:
        """Insert the send unless its key exists; True when it is new."""
        ...

    async def reopen_exhausted(self, key: str, now: datetime) -> SendRecord | None:
        """Start a send that ran out of retries over (`pending`, attempts 0, `reopened` + 1);
        None when it is no such send."""
        ...

    async def find_for_status(self, key: str | None, provider_sid: str) -> SendRecord | None:
        """By key when there is one, else by the provider's message sid."""
        ...

    async def apply_reported_status(
        self, key: str, provider_sid: str, status: str, error_code: int | None, now: datetime
    ) -> bool:
        """Forwards only; a claimed send keeps the status aside (`reported_status`); True when
        the send's status moved."""
        ...


class Claims(Protocol):
    """`outbound_messages` as the dispatcher's work list: single writes, no transaction."""

    async def due_keys(self, now: datetime, limit: int) -> list[str]: ...

    async def record(self, send: SendRecord) -> bool:
        """Insert the send unless its key exists; True when it is new."""
        ...

    async def claim(
        self, key: str, token: str, now: datetime, lease_until: datetime
    ) -> Claim | None:
        """Take the send if it is due (compare-and-set on its claim state); None if not ours."""
        ...

    async def sids_of_other_sends(self, sids: Iterable[str], key: str) -> set[str]: ...

    async def release_for_retry(
        self, claim: Claim, outcome: SendOutcome, next_attempt_at: datetime
    ) -> bool:
        """Back to `pending` under the claim's token; False when the claim was lost."""
        ...

    async def finish(
        self,
        claim: Claim,
        outcome: SendOutcome,
        events: Callable[[SendRecord], Sequence[Envelope[Any]]],
    ) -> SendRecord | None:
        """Record the outcome, release the claim and publish `events(after)` with it, in one
        write (the events kept in the row until published); the send after, or None when the
        claim was lost (nothing written or published)."""
        ...


class Recipients(Protocol):
    """`sms_recipients` inside a transaction: the opt-out read model."""

    async def get(self, phone: str) -> Recipient | None: ...

    async def apply_opt_out(self, change: OptOut) -> bool:
        """Apply only if newer than the change the recipient holds; True when applied."""
        ...


class SendSlots(Protocol):
    """`sms_recipients` as the gate before a send: single writes, no transaction."""

    async def opted_out(self, phone: str) -> bool: ...

    async def apply_opt_out(self, change: OptOut) -> bool:
        """Apply only if newer than the change the recipient holds (a carrier's opt-out the
        sender learns from a send, whose `sms.optout.changed` it also consumes)."""
        ...

    async def take_send_slot(
        self,
        phone: str,
        now: datetime,
        caps: Sequence[CapPolicy],
        *,
        compliance: bool,
        capped: bool,
    ) -> Gate:
        """Not opted out (unless `compliance`) and, when `capped`, under every cap: log the send
        and open; else say why not."""
        ...


class SenderWork(Emits, Protocol):
    """What the sender's handlers may touch inside one transaction (read-only members, so the
    Mongo unit and the fake may each hold their own repository classes)."""

    @property
    def sends(self) -> Sends: ...

    @property
    def recipients(self) -> Recipients: ...


class SenderTransactions(Protocol):
    """Runs a body in its own sender unit of work (`Transactions`, or the fake's `run`)."""

    async def run(self, body: Callable[[SenderWork], Awaitable[_T]]) -> _T: ...


class MongoSenderWork(UnitOfWork):
    """The sender's repositories, both bound to one transaction's session."""

    def __init__(self, db: Database, session: AsyncClientSession, outbox: Outbox) -> None:
        super().__init__(session, outbox)
        self.sends = MongoSends(db, session)
        self.recipients = MongoRecipients(db, session)


def sender_work(db: Database) -> UnitOfWorkFactory[MongoSenderWork]:
    """The factory `runtime.transactions(...)` builds each unit of work with."""

    def build(session: AsyncClientSession, outbox: Outbox) -> MongoSenderWork:
        return MongoSenderWork(db, session, outbox)

    return build
