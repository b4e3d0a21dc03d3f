"""The admin's contract: every request body and every answer, one typed model each.

The API declares these in its OpenAPI document, `AdminReads`/`AdminActions` return them, and the
`givecare` CLI prints them — read from the database in direct mode, parsed from the API's JSON in
remote mode — so an answer has one shape wherever it comes from. What `support` may see is a
model of its own (`Masked…`, `view: "masked"`): its phone numbers keep their last four digits,
its personal fields can only hold `"[hidden]"`. The answer is built as that model from the
records, so masking is decided by the model's type, never by editing a finished answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.admin.broker import QueueDepth
from services.admin.outbound_retry import RetryMode
from services.admin.records import Actor, ApiToken, AuditEntry, Role
from services.admin.settings import MAX_PAGE_ROWS
from services.billing_worker.views import BillingAccount, OperatorRequestOutcome, ReconcileReport
from services.sms_sender.views import Send
from services.sms_worker.views import Alert, Conversation, LoggedMessage, StoredProfile, User
from shared.events.catalog import RECONCILE_MAX_SECONDS
from shared.logging import mask_phone, mask_text

__all__ = [
    "HIDDEN",
    "MAX_ROWS",
    "MAX_SMS_CHARS",
    "MAX_TTL_DAYS",
    "RECONCILE_MAX_SECONDS",
    "AcknowledgeRequest",
    "AcknowledgementRequested",
    "AlertSummary",
    "AuditRecord",
    "Billing",
    "BillingRequest",
    "BootstrapRequest",
    "Caller",
    "CheckoutLink",
    "CheckoutLinkRequest",
    "DiscardRequest",
    "Discarded",
    "FailedSend",
    "FailedSendView",
    "MaskedFailedSend",
    "MaskedUserDetail",
    "MessageRequest",
    "MessageRequested",
    "Metrics",
    "MigrationProgress",
    "NewToken",
    "OperatorRoles",
    "ReconcileFigures",
    "ReconcileRequest",
    "ReplayRequest",
    "Replayed",
    "RetryRequested",
    "TokenListing",
    "TokenRequest",
    "TokenRevoked",
    "UserDetail",
    "UserRecords",
    "UserView",
]

# The most rows one request may ask for or name (ADMIN_MAX_LIST_LIMIT may lower it further).
MAX_ROWS: Final = MAX_PAGE_ROWS
# What one SMS can carry (Twilio's limit, SMS_MAX_BODY_CHARS's own ceiling).
MAX_SMS_CHARS: Final = 1_600
# ADMIN_TOKEN_TTL_DAYS's own ceiling.
MAX_TTL_DAYS: Final = 3_650
HIDDEN: Final = "[hidden]"

MessageId = Annotated[str, Field(min_length=1, max_length=256)]
# What support sees of a personal field: that it is there (`"[hidden]"`) or that it is not.
Hidden = Literal["[hidden]"]
# A phone number with every digit but the last four masked (`+*******4567`).
MaskedPhone = Annotated[
    str, Field(pattern=r"^\D*(\d\D*){0,4}$", description="all but the last four digits masked")
]


def _hidden(value: object | None) -> Hidden | None:
    return None if value is None else "[hidden]"


# --- request bodies: every one bounded ------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BootstrapRequest(_Body):
    phone: str = Field(min_length=1, max_length=32, description="E.164 phone of the first admin")
    token_name: str | None = Field(None, max_length=100)


class TokenRequest(_Body):
    user: str = Field(
        min_length=1,
        max_length=64,
        description="the operator: E.164 phone, operator id, or the SMS worker's user id",
    )
    roles: list[Role] | None = Field(
        None, max_length=8, description="default: every role the operator holds"
    )
    # Finite and bounded: `Infinity` or 1e308 days is no lifetime a date can hold (422, not 500).
    ttl_days: float | None = Field(
        None,
        gt=0,
        le=MAX_TTL_DAYS,
        allow_inf_nan=False,
        description="default and maximum: ADMIN_TOKEN_TTL_DAYS",
    )
    name: str | None = Field(None, max_length=100)


class MessageRequest(_Body):
    body: str = Field(min_length=1, max_length=MAX_SMS_CHARS)
    request_id: str | None = Field(
        None, max_length=128, description="repeat it to retry without sending twice"
    )


class ReplayRequest(_Body):
    message_ids: list[MessageId] | None = Field(
        None, max_length=MAX_ROWS, description="default: every parked event"
    )
    limit: int = Field(100, ge=1, le=MAX_ROWS)


class DiscardRequest(_Body):
    message_ids: list[MessageId] | None = Field(None, max_length=MAX_ROWS)
    all: bool = Field(False, description="discard every parked event (up to limit)")
    limit: int = Field(100, ge=1, le=MAX_ROWS)


class AcknowledgeRequest(_Body):
    note: str | None = Field(None, max_length=500)


class ReconcileRequest(_Body):
    since_seconds: int = Field(
        3 * 86_400,
        gt=0,
        le=RECONCILE_MAX_SECONDS,
        description="how far back to look (at most the 30 days Stripe keeps events)",
    )


class CheckoutLinkRequest(_Body):
    phone: str = Field(min_length=1, max_length=32, description="the caregiver's E.164 phone")
    plan: Literal["monthly", "annual"] = "monthly"


# --- answers --------------------------------------------------------------------------------------


class _Answer(BaseModel):
    # Unknown fields are ignored, so a CLI parses the answers of a newer API.
    model_config = ConfigDict(frozen=True)


class Caller(_Answer):
    """Who acted or is asking: an API token (and its operator), the bootstrap token, or the
    command line's local operator (`cli:<os user>@<host>`)."""

    kind: Literal["token", "bootstrap", "operator"]
    id: str
    operator_id: str | None
    roles: list[Role]

    @classmethod
    def of(cls, actor: Actor) -> Caller:
        return cls(
            kind=actor.kind, id=actor.id, operator_id=actor.operator_id, roles=sorted(actor.roles)
        )


class NewToken(_Answer):
    """A token just minted (by the bootstrap or for an operator): the only answer it is in."""

    token_id: str
    token: str
    operator_id: str
    roles: list[Role]
    expires_at: datetime


class TokenRevoked(_Answer):
    token_id: str
    revoked_at: datetime


class TokenListing(_Answer):
    """A token as listed: everything but its hash (and the token, which is never stored)."""

    id: str
    operator_id: str
    name: str | None
    roles: list[Role]
    created_at: datetime
    created_by: str
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> TokenListing:
        return cls(
            id=token.id,
            operator_id=token.operator_id,
            name=token.name,
            roles=sorted(token.roles),
            created_at=token.created_at,
            created_by=token.created_by,
            expires_at=token.expires_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
        )


class OperatorRoles(_Answer):
    operator_id: str
    roles: list[Role]


class AuditTarget(_Answer):
    type: str
    id: str


class AuditRecord(_Answer):
    """One audit row; `details` are the action's own figures (counts, ids, roles), never a token,
    a phone number or a message body."""

    id: str
    at: datetime
    actor: Caller
    action: str
    target: AuditTarget
    details: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditRecord:
        kind, target = entry.target
        return cls(
            id=entry.id,
            at=entry.at,
            actor=Caller.of(entry.actor),
            action=entry.action,
            target=AuditTarget(type=kind, id=target),
            details=dict(entry.details),
        )


# --- metrics --------------------------------------------------------------------------------------


class UserCounts(_Answer):
    total: int
    by_journey_phase: dict[str, int]
    by_burnout_band: dict[str, int] = Field(description="`none`: no score yet")
    active_7d: int


class MessagesToday(_Answer):
    since: datetime = Field(description="local midnight in ADMIN_METRICS_TIMEZONE")
    inbound: int
    outbound: int


class AlertCounts(_Answer):
    total: int
    by_severity: dict[str, int]
    open: int


class Metrics(_Answer):
    """The system at a glance; the queue figures are null when the broker does not answer."""

    at: datetime
    users: UserCounts
    messages_today: MessagesToday
    crisis_alerts_7d: AlertCounts
    outbound_by_status: dict[str, int]
    queues: dict[str, QueueDepth] | None
    parked_total: int | None


# --- a user's whole picture, in full or masked ----------------------------------------------------


class _ProfileFacts(_Answer):
    """What anyone who may read a profile sees."""

    journey_phase: str
    burnout_score: float | None
    burnout_band: str | None
    burnout_confidence: float | None
    pressure_zones: list[str]
    timezone: str
    language: str
    last_contact_at: datetime | None
    last_proactive_message_at: datetime | None
    last_crisis_event_at: datetime | None
    crisis_followup_count: int
    reactivation_message_count: int
    sms_opt_out: bool
    opted_out_at: datetime | None
    checkin_preference: str | None
    snooze_until: datetime | None
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def _facts(cls, stored: StoredProfile) -> dict[str, Any]:
        profile = stored.profile
        return {
            "journey_phase": profile.journey_phase,
            "burnout_score": profile.burnout_score,
            "burnout_band": profile.burnout_band,
            "burnout_confidence": profile.burnout_confidence,
            "pressure_zones": list(profile.pressure_zones),
            "timezone": profile.timezone,
            "language": profile.language,
            "last_contact_at": profile.last_contact_at,
            "last_proactive_message_at": profile.last_proactive_message_at,
            "last_crisis_event_at": profile.last_crisis_event_at,
            "crisis_followup_count": profile.crisis_followup_count,
            "reactivation_message_count": profile.reactivation_message_count,
            "sms_opt_out": profile.sms_opt_out,
            "opted_out_at": profile.opted_out_at,
            "checkin_preference": profile.checkin_preference,
            "snooze_until": profile.snooze_until,
            "created_at": stored.created_at,
            "updated_at": stored.updated_at,
        }


class Profile(_ProfileFacts):
    first_name: str | None
    relationship: str | None
    care_recipient_name: str | None
    zip_code: str | None

    @classmethod
    def of(cls, stored: StoredProfile) -> Profile:
        profile = stored.profile
        return cls(
            **cls._facts(stored),
            first_name=profile.first_name,
            relationship=profile.relationship,
            care_recipient_name=profile.care_recipient_name,
            zip_code=profile.zip_code,
        )


class MaskedProfile(_ProfileFacts):
    first_name: Hidden | None
    relationship: Hidden | None
    care_recipient_name: Hidden | None
    zip_code: Hidden | None

    @classmethod
    def of(cls, stored: StoredProfile) -> MaskedProfile:
        profile = stored.profile
        return cls(
            **cls._facts(stored),
            first_name=_hidden(profile.first_name),
            relationship=_hidden(profile.relationship),
            care_recipient_name=_hidden(profile.care_recipient_name),
            zip_code=_hidden(profile.zip_code),
        )


class _ConversationFacts(_Answer):
    started_at: datetime | None
    last_message_at: datetime | None
    total_interactions: int


class ConversationSummary(_ConversationFacts):
    summary: str | None

    @classmethod
    def of(cls, conversation: Conversation) -> ConversationSummary:
        return cls(
            started_at=conversation.started_at,
            last_message_at=conversation.last_message_at,
            total_interactions=conversation.interactions,
            summary=conversation.summary,
        )


class MaskedConversationSummary(_ConversationFacts):
    summary: Hidden | None

    @classmethod
    def of(cls, conversation: Conversation) -> MaskedConversationSummary:
        return cls(
            started_at=conversation.started_at,
            last_message_at=conversation.last_message_at,
            total_interactions=conversation.interactions,
            summary=_hidden(conversation.summary),
        )


class _MessageFacts(_Answer):
    id: str
    direction: str
    kind: str | None
    status: str | None
    created_at: datetime | None
    chars: int | None = Field(description="the body's length, also when the body is hidden")

    @classmethod
    def _facts(cls, message: LoggedMessage) -> dict[str, Any]:
        return {
            "id": message.id,
            "direction": message.direction,
            "kind": message.kind,
            "status": message.status,
            "created_at": message.created_at,
            "chars": len(message.body) if message.body is not None else None,
        }


class Message(_MessageFacts):
    body: str | None

    @classmethod
    def of(cls, message: LoggedMessage) -> Message:
        return cls(**cls._facts(message), body=message.body)


class MaskedMessage(_MessageFacts):
    body: Hidden | None

    @classmethod
    def of(cls, message: LoggedMessage) -> MaskedMessage:
        return cls(**cls._facts(message), body=_hidden(message.body))


class Billing(_Answer):
    status: str | None
    has_access: bool
    subscription_id: str | None
    current_period_end: datetime | None
    last_event_at: datetime | None

    @classmethod
    def of(cls, account: BillingAccount) -> Billing:
        return cls(
            status=account.status,
            has_access=account.has_access,
            subscription_id=account.subscription_id,
            current_period_end=account.current_period_end,
            last_event_at=account.last_event_at,
        )


@dataclass(frozen=True)
class UserRecords:
    """What a user's detail is made of, as the owning services' views return it."""

    user: User
    operator_id: str | None
    operator_roles: list[Role]
    profile: StoredProfile | None
    conversation: Conversation | None
    billing: BillingAccount | None
    messages: Sequence[LoggedMessage]


class _UserFacts(_Answer):
    id: str
    operator_id: str | None = Field(description="the operator with this phone, if any")
    roles: list[Role] = Field(description="that operator's roles")
    created_at: datetime
    billing: Billing | None

    @classmethod
    def _facts(cls, records: UserRecords) -> dict[str, Any]:
        return {
            "id": records.user.id,
            "operator_id": records.operator_id,
            "roles": sorted(records.operator_roles),
            "created_at": records.user.created_at,
            "billing": Billing.of(records.billing) if records.billing is not None else None,
        }


class UserDetail(_UserFacts):
    """A caregiver in full, for admins."""

    view: Literal["full"] = "full"
    phone: str
    email: str | None
    profile: Profile | None
    conversation: ConversationSummary | None
    last_messages: list[Message]

    @classmethod
    def of(cls, records: UserRecords) -> UserDetail:
        conversation = records.conversation
        return cls(
            **cls._facts(records),
            phone=records.user.phone,
            email=records.user.email,
            profile=Profile.of(records.profile) if records.profile is not None else None,
            conversation=ConversationSummary.of(conversation) if conversation else None,
            last_messages=[Message.of(message) for message in records.messages],
        )


class MaskedUserDetail(_UserFacts):
    """A caregiver as support sees them: phone and e-mail masked, no names, ZIP code,
    conversation summary or message text."""

    view: Literal["masked"] = "masked"
    phone: MaskedPhone
    email: str | None = Field(description="masked: `a***@example.org`")
    profile: MaskedProfile | None
    conversation: MaskedConversationSummary | None
    last_messages: list[MaskedMessage]

    @classmethod
    def of(cls, records: UserRecords) -> MaskedUserDetail:
        user, conversation = records.user, records.conversation
        return cls(
            **cls._facts(records),
            phone=mask_phone(user.phone),
            email=mask_text(user.email) if user.email is not None else None,
            profile=MaskedProfile.of(records.profile) if records.profile is not None else None,
            conversation=MaskedConversationSummary.of(conversation) if conversation else None,
            last_messages=[MaskedMessage.of(message) for message in records.messages],
        )


UserView = Annotated[UserDetail | MaskedUserDetail, Field(discriminator="view")]


# --- failed sends, in full or masked --------------------------------------------------------------


class _SendFacts(_Answer):
    key: str = Field(description="the send's idempotency key")
    user_id: str | None
    kind: str
    status: str
    reason: str | None
    error_code: int | None
    attempts: int
    chars: int
    updated_at: datetime | None
    retryable: bool

    @classmethod
    def _facts(cls, send: Send, retryable: bool) -> dict[str, Any]:
        return {
            "key": send.key,
            "user_id": send.user_id,
            "kind": send.kind,
            "status": send.status,
            "reason": send.reason,
            "error_code": send.error_code,
            "attempts": send.attempts,
            "chars": len(send.body),
            "updated_at": send.updated_at,
            "retryable": retryable,
        }


class FailedSend(_SendFacts):
    view: Literal["full"] = "full"
    to_number: str
    body: str
    error: str | None

    @classmethod
    def of(cls, send: Send, *, retryable: bool) -> FailedSend:
        return cls(
            **cls._facts(send, retryable),
            to_number=send.to_number,
            body=send.body,
            error=send.error,
        )


class MaskedFailedSend(_SendFacts):
    """A failed send as support sees it: the number masked, the text hidden, and the provider's
    error text with any phone number in it masked."""

    view: Literal["masked"] = "masked"
    to_number: MaskedPhone
    body: Hidden
    error: str | None

    @classmethod
    def of(cls, send: Send, *, retryable: bool) -> MaskedFailedSend:
        return cls(
            **cls._facts(send, retryable),
            to_number=mask_phone(send.to_number),
            body="[hidden]",
            error=mask_text(send.error) if send.error is not None else None,
        )


FailedSendView = Annotated[FailedSend | MaskedFailedSend, Field(discriminator="view")]


# --- alerts and migrations ------------------------------------------------------------------------


class AlertSummary(_Answer):
    """A crisis alert: who (by user id), how grave, and where it stands; no message text."""

    id: str
    user_id: str
    severity: str
    domestic_violence: bool
    source: str
    status: str
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None = Field(description="an operator id, never a phone number")

    @classmethod
    def of(cls, alert: Alert) -> AlertSummary:
        return cls(
            id=alert.id,
            user_id=alert.user_id,
            severity=alert.severity,
            domestic_violence=alert.domestic_violence,
            source=alert.source,
            status=alert.status,
            created_at=alert.created_at,
            acknowledged_at=alert.acknowledged_at,
            acknowledged_by=alert.acknowledged_by,
        )


class MigrationProgress(_Answer):
    """A data migration's progress record, without its error samples or resume position."""

    id: str
    description: str | None
    status: str | None
    phase: str | None
    started_at: datetime | None
    finished_at: datetime | None
    last_error: str | None
    lease_until: datetime | None
    checkpoint: dict[str, int] = Field(description="processed, succeeded, failed")


# --- writes' answers ------------------------------------------------------------------------------


class MessageRequested(_Answer):
    outbound_key: str
    user_id: str
    status: Literal["requested"] = "requested"


class RetryRequested(_Answer):
    key: str
    mode: RetryMode = Field(
        description="reopen: the original request again; resend: a new request of the series"
    )
    outbound_key: str
    status: Literal["requested"] = "requested"


class AcknowledgementRequested(_Answer):
    alert_id: str
    status: Literal["requested"] = "requested"
    acknowledged_by: str
    requested_at: datetime


class Replayed(_Answer):
    queue: str
    replayed: int


class Discarded(_Answer):
    queue: str
    discarded: int


# --- billing requests ----------------------------------------------------------------------------


class ReconcileFigures(_Answer):
    """Stripe events listed in the window, those billing had received, those it fed now."""

    listed: int
    already_received: int
    fed: int

    @classmethod
    def of(cls, report: ReconcileReport) -> ReconcileFigures:
        return cls(listed=report.listed, already_received=report.already_received, fed=report.fed)


class CheckoutLink(_Answer):
    session_id: str
    url: str


class BillingRequest(_Answer):
    """An operator's request to billing (which alone holds the Stripe key): `requested` until
    the billing worker has handled it, then `done` with its result or `failed` with `error`."""

    request_id: str
    kind: Literal["reconcile", "checkout_link"]
    status: Literal["requested", "done", "failed"]
    requested_by: str = Field(description="an operator id (or `cli:…`), never a phone number")
    requested_at: datetime
    finished_at: datetime | None = None
    reconcile: ReconcileFigures | None = None
    checkout_link: CheckoutLink | None = None
    error: str | None = None

    @classmethod
    def of(cls, outcome: OperatorRequestOutcome) -> BillingRequest:
        url, session = outcome.checkout_url, outcome.checkout_session_id
        return cls(
            request_id=outcome.request_id,
            kind=outcome.kind,
            status=outcome.status,
            requested_by=outcome.requested_by,
            requested_at=outcome.requested_at,
            finished_at=outcome.finished_at,
            reconcile=ReconcileFigures.of(outcome.reconcile) if outcome.reconcile else None,
            checkout_link=CheckoutLink(session_id=session, url=url) if url and session else None,
            error=outcome.error,
        )
