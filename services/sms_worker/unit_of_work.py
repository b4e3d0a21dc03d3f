"""What the SMS worker's handlers may touch: typed repositories and `emit`, one transaction.

`SmsWork` is the protocol handlers are annotated with; `MongoSmsWork` builds the Mongo
repositories (`storage.py`) on the transaction's session, and `tests/fakes/sms_worker.py` keeps
the same repositories in memory. `SmsRepositories` is the same set without `emit`: what a
planned handler reads before its transaction opens (`MongoSmsRepositories(db)`, no session).
Each repository protocol lists only what the handlers and the contract tests use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from pymongo.asynchronous.client_session import AsyncClientSession

from services.sms_worker.domain.profile import Profile
from services.sms_worker.domain.summary import ConversationWindow, SummaryUpdate
from services.sms_worker.records import (
    Acknowledgement,
    Alert,
    AssessmentResult,
    BillingAccess,
    Caregiver,
    Conversation,
    ConversationEntry,
    InboundSmsRecord,
    OutboundRequest,
    OutboundSmsRecord,
    ProactiveDecision,
    SendUpdate,
    ToolCall,
    User,
)
from services.sms_worker.storage import (
    MongoAlerts,
    MongoAssessments,
    MongoBillingAccess,
    MongoCaregivers,
    MongoConversations,
    MongoMessages,
    MongoProactiveLog,
    MongoProfiles,
    MongoToolCalls,
    MongoUsers,
)
from shared.mongo import Database
from shared.outbox import Outbox
from shared.unit_of_work import Emits, UnitOfWork


class Users(Protocol):
    async def by_phone(self, phone: str) -> User | None: ...

    async def add(self, user: User) -> User:
        """The user with `user.phone`: the one already stored, else `user`, now stored."""
        ...


class Caregivers(Protocol):
    async def by_phone(
        self, phone: str, *, since: datetime, until: datetime, excluding: str
    ) -> Caregiver | None:
        """The user of `phone` with their profile and their inbound messages counted towards
        the rate limit in (since, until] (`Messages.inbound_count`), in one read; None for a
        number without a user."""
        ...


class Profiles(Protocol):
    async def get(self, user_id: str) -> Profile | None: ...

    async def create(self, profile: Profile, now: datetime) -> bool:
        """Store a first profile at version 1; False if one exists already."""
        ...

    async def update(self, before: Profile, after: Profile, now: datetime) -> bool:
        """Write what changed from `before` if the profile is still at `before.version`, and
        move the version on; False when another event changed it first."""
        ...

    async def set_opt_out(
        self, user_id: str, *, opted_out: bool, changed_at: datetime, now: datetime
    ) -> bool:
        """Apply an opt-out change unless one at least as recent is applied (the version
        moves on); False when it changed nothing."""
        ...


class Conversations(Protocol):
    async def start(self, user_id: str, started_at: datetime, now: datetime) -> None:
        """An empty conversation for a new user, unless there is one."""
        ...

    async def start_with(
        self,
        user_id: str,
        entries: Sequence[ConversationEntry],
        *,
        started_at: datetime,
        keep: int,
        now: datetime,
    ) -> None:
        """A new user's conversation, started with their first exchange (one write); a
        conversation already there gets the exchange as `add_exchange` adds it."""
        ...

    async def get(self, user_id: str) -> Conversation | None: ...

    async def window(self, user_id: str, limit: int) -> ConversationWindow:
        """The newest `limit` entries and the historical summary."""
        ...

    async def add_exchange(
        self, user_id: str, entries: Sequence[ConversationEntry], *, keep: int, now: datetime
    ) -> None:
        """An inbound message and its replies, once (the first entry's id guards), keeping the
        newest `keep` entries; counts one interaction."""
        ...

    async def remember_outbound(
        self, user_id: str, entry: ConversationEntry, *, keep: int, now: datetime
    ) -> None:
        """A message we started, once, so the responder knows what is being answered; not an
        interaction."""
        ...

    async def save_summary(self, user_id: str, update: SummaryUpdate, now: datetime) -> bool:
        """Store `update` if the summary is still the one it was written from."""
        ...


class Messages(Protocol):
    """The conversation log: every SMS in (`in:<sid>`) and out (`out:<key>`)."""

    async def record_inbound(
        self, message: InboundSmsRecord, requests: Sequence[OutboundRequest] = ()
    ) -> bool:
        """Keep the first record of the message and of each attachment, and log the SMS
        `requests` that answer it (as `record_request` does), in one write; True when the
        message's record is new."""
        ...

    async def inbound(self, message_id: str) -> InboundSmsRecord | None: ...

    async def inbound_count(
        self, user_id: str, since: datetime, until: datetime, *, excluding: str
    ) -> int:
        """Inbound messages in (since, until] that count towards the rate limit."""
        ...

    async def record_request(self, request: OutboundRequest) -> None:
        """The row of a requested SMS, `pending`; a row the send's steps created first gets the
        body and kind and keeps its status."""
        ...

    async def apply_update(self, update: SendUpdate) -> bool:
        """Move the row on if `update` supersedes it (`records.supersedes`); a row not seen yet
        is created from the update. False when it changed nothing."""
        ...

    async def outbound(self, key: str) -> OutboundSmsRecord | None: ...


class ToolCalls(Protocol):
    async def record(self, calls: Sequence[ToolCall]) -> None: ...

    async def of_message(self, message_id: str) -> list[ToolCall]: ...


class Alerts(Protocol):
    async def record(self, alert: Alert) -> None:
        """Keep the first record of `alert.id`."""
        ...

    async def get(self, alert_id: str) -> Alert | None: ...

    async def acknowledge(self, acknowledgement: Acknowledgement) -> bool:
        """Open → acknowledged with who, when and the note; False when the alert is not open
        (already acknowledged, or unknown)."""
        ...


class Assessments(Protocol):
    async def record(self, result: AssessmentResult) -> None:
        """Keep the first result of a session."""
        ...

    async def get(self, session_id: str) -> AssessmentResult | None: ...


class BillingAccessReadModel(Protocol):
    """Billing's access decisions, keyed by phone: a phone may be heard of before it texts."""

    async def get(self, phone: str) -> BillingAccess | None: ...

    async def apply(self, access: BillingAccess) -> bool:
        """Store `access` unless a newer change is stored; False when it changed nothing."""
        ...


class ProactiveLog(Protocol):
    async def record(self, decision: ProactiveDecision) -> None:
        """Keep the first decision for `decision.key`."""
        ...

    async def get(self, key: str) -> ProactiveDecision | None: ...


class SmsRepositories(Protocol):
    """The SMS worker's repositories. Read-only properties, so both the Mongo classes and the
    fakes satisfy the protocol with their own repository types."""

    @property
    def users(self) -> Users: ...
    @property
    def caregivers(self) -> Caregivers: ...
    @property
    def profiles(self) -> Profiles: ...
    @property
    def conversations(self) -> Conversations: ...
    @property
    def messages(self) -> Messages: ...
    @property
    def tool_calls(self) -> ToolCalls: ...
    @property
    def alerts(self) -> Alerts: ...
    @property
    def assessments(self) -> Assessments: ...
    @property
    def billing_access(self) -> BillingAccessReadModel: ...
    @property
    def proactive_log(self) -> ProactiveLog: ...


class SmsWork(SmsRepositories, Emits, Protocol):
    """What a handler holds: the repositories, bound to one transaction, and `emit`."""


class MongoSmsRepositories:
    """The repositories over the SMS worker's database, bound to `session` when given; without
    one (a plan's reads, a rejected message kept before the event is parked) each call stands
    alone."""

    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self.users = MongoUsers(db, session)
        self.caregivers = MongoCaregivers(db, session)
        self.profiles = MongoProfiles(db, session)
        self.conversations = MongoConversations(db, session)
        self.messages = MongoMessages(db, session)
        self.tool_calls = MongoToolCalls(db, session)
        self.alerts = MongoAlerts(db, session)
        self.assessments = MongoAssessments(db, session)
        self.billing_access = MongoBillingAccess(db, session)
        self.proactive_log = MongoProactiveLog(db, session)


class MongoSmsWork(MongoSmsRepositories, UnitOfWork):
    """One transaction: every repository is built on its session, events join its outbox."""

    def __init__(self, db: Database, session: AsyncClientSession, outbox: Outbox) -> None:
        UnitOfWork.__init__(self, session, outbox)
        MongoSmsRepositories.__init__(self, db, session)


def sms_work(db: Database) -> Callable[[AsyncClientSession, Outbox], MongoSmsWork]:
    """The factory `runtime.transactions(...)` builds each transaction's unit of work with."""

    def build(session: AsyncClientSession, outbox: Outbox) -> MongoSmsWork:
        return MongoSmsWork(db, session, outbox)

    return build
