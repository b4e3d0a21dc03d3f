"""What the SMS worker's repositories take and return: one immutable record per stored thing.

Handlers build records and hand them to repositories (`services/sms_worker/unit_of_work.py`);
neither side sees a document. The few rules that belong to a stored row rather than to the
conversation (which step of a send supersedes which) live here, beside the row, so the Mongo
repository and the in-memory fake apply the very same rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from domain import send_status
from services.sms_worker.domain.inbound import Access
from services.sms_worker.domain.profile import Profile
from services.sms_worker.domain.responder import HistoryEntry, ToolCallRecord
from services.sms_worker.domain.summary import ConversationWindow
from shared.events.catalog import OutboundKind

Direction = Literal["inbound", "outbound"]
ProactiveOutcome = Literal["sent", "suppressed", "deferred"]
# A crisis alert is open until an operator acknowledges it (through the admin's command).
ALERT_OPEN: Final = "open"
ALERT_ACKNOWLEDGED: Final = "acknowledged"


def inbound_message_id(message_sid: str) -> str:
    """The conversation log's row of an inbound SMS: Twilio's MessageSid names it."""
    return f"in:{message_sid}"


def outbound_message_id(key: str) -> str:
    """The conversation log's row of the SMS requested under idempotency key `key`."""
    return f"out:{key}"


@dataclass(frozen=True)
class User:
    """A person, known by phone (E.164). Admin roles are the admin's (its operators), not here;
    `email` is what a data migration carried over, never written by the worker."""

    id: str
    phone: str
    created_at: datetime
    email: str | None = None


@dataclass(frozen=True)
class Caregiver:
    """What the inbound rules read about the sender of a message, in one read: the user, their
    profile (None before their first message is applied), and how many of their inbound
    messages count towards the rate limit in the window asked for."""

    user: User
    profile: Profile | None
    counted_inbound: int


@dataclass(frozen=True)
class Attachment:
    """One MMS media item of an inbound message."""

    id: str
    message_id: str
    user_id: str
    url: str
    content_type: str | None
    position: int
    created_at: datetime


@dataclass(frozen=True)
class InboundSmsRecord:
    """An inbound SMS in the conversation log; `rejected` when its sender is no phone number."""

    id: str
    user_id: str | None
    body: str
    provider_sid: str
    status: Literal["received", "rejected"]
    created_at: datetime
    updated_at: datetime
    num_media: int = 0
    # The rule that handled it; None for a rejected message.
    route: str | None = None
    # Not counted towards the rate limit (crisis messages).
    rate_exempt: bool = False
    event_id: str | None = None
    # Why it was rejected.
    error: str | None = None
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class OutboundRequest:
    """An SMS someone asked the sender for (`sms.outbound.requested`), as the log keeps it."""

    key: str
    user_id: str | None
    body: str
    kind: OutboundKind
    requested_at: datetime


@dataclass(frozen=True)
class SendUpdate:
    """One step of a send (`sms.send.updated`)."""

    key: str
    user_id: str | None
    status: send_status.SendStatus
    at: datetime
    # An operator's retries of a failed send; each starts it over at `pending`.
    reopened: int = 0
    provider_sid: str | None = None
    error_code: int | None = None
    # What was asked, for a send this service did not request itself (it logs its own at once).
    body: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class OutboundSmsRecord:
    """The conversation log's row of an outbound SMS. `body` and `kind` are None while only
    steps of the send have arrived, before its request."""

    key: str
    user_id: str | None
    body: str | None
    kind: str | None
    status: str
    created_at: datetime
    updated_at: datetime
    reopened: int = 0
    provider_sid: str | None = None
    error_code: int | None = None


def supersedes(update: SendUpdate, current: OutboundSmsRecord) -> bool:
    """Whether `update` moves the row on: a later retry round, or a higher rank in the same
    round. Steps arrive in any order, so anything else is an older step and changes nothing."""
    return (update.reopened, send_status.rank(update.status)) > (
        current.reopened,
        send_status.rank(current.status),
    )


@dataclass(frozen=True)
class ConversationEntry:
    """One message in the conversation's bounded window of recent messages."""

    id: str
    direction: Direction
    body: str
    at: datetime
    kind: OutboundKind | None = None


@dataclass(frozen=True)
class Conversation:
    """A user's conversation: the bounded window of recent messages and the summary of what
    left it."""

    user_id: str
    started_at: datetime
    entries: tuple[ConversationEntry, ...] = ()
    # Inbound messages handled (our own proactive messages are not interactions).
    interactions: int = 0
    last_message_at: datetime | None = None
    summary: str | None = None
    summary_version: int = 0
    summarised_through: str | None = None

    def window(self, limit: int) -> ConversationWindow:
        """What a responder reads: the newest `limit` entries and the summary."""
        return ConversationWindow(
            tuple(
                HistoryEntry(entry.direction, entry.body, entry.id)
                for entry in self.entries[-limit:]
            ),
            self.summary,
            self.summary_version,
            self.summarised_through,
        )


@dataclass(frozen=True)
class ToolCall:
    """A tool the LLM responder called while writing the reply logged as `message_id`."""

    message_id: str
    user_id: str
    call: ToolCallRecord
    position: int
    created_at: datetime

    @property
    def id(self) -> str:
        return f"{self.message_id}:{self.call.call_id}"


@dataclass(frozen=True)
class Alert:
    """A crisis finding for a person to look at (`status` open until acknowledged)."""

    id: str
    user_id: str
    message_id: str
    severity: str
    domestic_violence: bool
    source: str
    needs_human_follow_up: bool
    created_at: datetime
    status: str = ALERT_OPEN
    acknowledged_at: datetime | None = None
    # The admin's operator id of whoever acknowledged it (never a phone number).
    acknowledged_by: str | None = None
    acknowledgement_note: str | None = None


@dataclass(frozen=True)
class Acknowledgement:
    """An operator took an alert on (`crisis.alert.acknowledged`)."""

    alert_id: str
    by: str
    at: datetime
    note: str | None = None


@dataclass(frozen=True)
class AssessmentResult:
    """A completed assessment session (`id` is the session's)."""

    id: str
    user_id: str
    instrument: str
    answers: tuple[int | None, ...]
    score: float
    band: str
    confidence: float
    zone_scores: dict[str, float]
    pressure_zones: tuple[str, ...]
    raw_total: int | None
    severity: str | None
    completed_at: datetime


@dataclass(frozen=True)
class BillingAccess:
    """Billing's word on a phone's access, as of `changed_at` (newest wins)."""

    phone: str
    user_id: str | None
    has_access: bool
    status: str | None
    current_period_end: datetime | None
    changed_at: datetime
    updated_at: datetime

    @staticmethod
    def access(record: BillingAccess | None) -> Access:
        """What the rules need; a phone billing never mentioned has no access."""
        if record is None:
            return Access(has_access=False)
        return Access(has_access=record.has_access, status=record.status)


@dataclass(frozen=True)
class ProactiveDecision:
    """What became of one `proactive.message.due` (`key` is the scheduler's idempotency key)."""

    key: str
    event_id: str
    user_id: str
    kind: str
    stage: int
    due_at: datetime
    outcome: ProactiveOutcome
    decided_at: datetime
    reason: str | None = None
    # The text, when sent.
    body: str | None = None


# --- Imported by a data migration (`services/migrations`) -----------------------------------
# Rows of the legacy app's data, as the repositories' `insert_migrated` methods take them: the
# worker's own records where they hold everything, these where the legacy data holds more.


@dataclass(frozen=True)
class ImportedProfile:
    """A legacy user's profile and when the legacy app created the user."""

    profile: Profile
    created_at: datetime


@dataclass(frozen=True)
class ImportedConversation:
    """A legacy user's conversation state: its newest entries and the summary of the rest."""

    user_id: str
    entries: tuple[ConversationEntry, ...]
    summary: str | None
    summary_version: int | None
    started_at: datetime
    interactions: int
    created_at: datetime

    @property
    def last_message_at(self) -> datetime | None:
        return self.entries[-1].at if self.entries else None


@dataclass(frozen=True)
class ImportedAttachment:
    """One item of a legacy message's `attachments` array; `id` = `<message id>:<position>`."""

    id: str
    message_id: str
    user_id: str | None
    conversation_id: str | None
    position: int
    type: str
    name: str | None
    storage_id: str | None
    url: str | None
    content_type: str | None
    size: int | None
    metadata: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class ImportedToolCall:
    """One tool call of a legacy message; `id` = `<message id>:<tool call id>`. `args` and
    `result` are native JSON; text that was not JSON is kept as `*_raw` (and the value None)."""

    id: str
    message_id: str
    user_id: str | None
    conversation_id: str | None
    tool_call_id: str
    tool_name: str
    position: int
    text_position: int | None
    is_partial: bool
    created_at: datetime
    args: Any = None
    result: Any = None
    args_raw: Any = None
    result_raw: Any = None
