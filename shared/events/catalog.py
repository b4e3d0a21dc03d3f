"""The events that cross service boundaries: the contracts between services.

An event type is owned by the service that publishes it; consumers rely only on what is declared
here. Adding an optional field is backwards compatible (envelopes and payloads ignore unknown
fields); renaming or removing one needs a new `EVENT_VERSION`. `EVENTS` decodes all of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from domain.send_status import SendStatus
from shared.events.envelope import Payload
from shared.events.registry import EventRegistry

EVENTS = EventRegistry()

# Every event that names a phone accepts exactly this; the phone parsers refuse anything else.
E164_PATTERN = r"^\+[1-9]\d{6,14}$"
E164 = Field(pattern=E164_PATTERN, description="E.164 phone number")


# --- published by ingress -------------------------------------------------------------------


class MediaItem(Payload):
    url: str
    content_type: str | None = None


@EVENTS.register
class SmsInboundReceived(Payload):
    """An SMS/MMS a caregiver sent us, as Twilio posted it (sender not yet normalised)."""

    EVENT_TYPE = "sms.inbound.received"

    message_sid: str
    account_sid: str | None = None
    from_number: str = Field(min_length=1, max_length=64)
    to_number: str = Field(min_length=1, max_length=64)
    body: str = Field("", max_length=10_000)
    num_media: int = Field(0, ge=0, le=10)
    media: list[MediaItem] = Field(default_factory=list, max_length=10)
    # Twilio Advanced Opt-Out: "STOP", "START" or "HELP" when Twilio classified the message.
    opt_out_type: str | None = None
    received_at: datetime


@EVENTS.register
class SmsStatusUpdated(Payload):
    """A Twilio delivery status callback for a message we sent."""

    EVENT_TYPE = "sms.status.updated"

    message_sid: str
    status: str
    error_code: int | None = None
    # The outbound idempotency key, when the StatusCallback URL carried it.
    outbound_key: str | None = None
    to_number: str | None = None
    received_at: datetime


@EVENTS.register
class StripeEventReceived(Payload):
    """A verified Stripe webhook; the routing key is `billing.stripe.<Stripe event type>`."""

    EVENT_TYPE = "billing.stripe.#"

    stripe_event_id: str
    stripe_type: str
    created: datetime
    livemode: bool = False
    api_version: str | None = None
    # The Stripe event's `data.object`, as Stripe sent it.
    data_object: dict[str, Any] = Field(default_factory=dict)
    previous_attributes: dict[str, Any] | None = None
    received_at: datetime


# --- published by any service, consumed by the SMS sender -----------------------------------

OutboundKind = Literal[
    "reply",
    "onboarding",
    "assessment",
    "crisis",
    "compliance",
    "rate_limit_notice",
    "subscription_gate",
    "proactive",
    "billing",
    "admin",
]


@EVENTS.register
class SmsOutboundRequested(Payload):
    """Please send this SMS, once. The envelope's idempotency key names the send."""

    EVENT_TYPE = "sms.outbound.requested"

    to_number: str = E164
    body: str = Field(min_length=1, max_length=10_000)
    kind: OutboundKind
    user_id: str | None = None
    # Only opt-out/opt-in confirmations may reach a number that is opted out.
    compliance: bool = False


# --- published by the SMS sender ------------------------------------------------------------


@EVENTS.register
class SmsSendUpdated(Payload):
    """A requested SMS moved along its life (`domain.send_status`): the sender publishes every
    step so the SMS worker's conversation log can follow; `key` is the request's idempotency
    key. Steps arrive in any order: a consumer applies one only when `(reopened, rank(status))`
    is greater than what it holds — forward only, except that an operator's retry of a failed
    send (`reopened` counts them) starts it over at `pending`."""

    EVENT_TYPE = "sms.send.updated"

    key: str = Field(min_length=1)
    reopened: int = Field(0, ge=0)
    user_id: str | None = None
    status: SendStatus
    provider_sid: str | None = None
    # The provider's error code (Twilio's 21610, 30003, ...) when the step is a failure.
    error_code: int | None = None
    updated_at: datetime
    # What was asked: the conversation log learns of sends other services requested (the
    # admin, billing) from their steps, not from their requests.
    body: str | None = None
    kind: str | None = None


# --- published by the SMS worker ------------------------------------------------------------


@EVENTS.register
class SmsOptOutChanged(Payload):
    """A number opted out or back in (keyword, free text, carrier error 21610, admin, or a
    legacy opt-out carried over by a data migration)."""

    EVENT_TYPE = "sms.optout.changed"

    phone: str = E164
    opted_out: bool
    source: Literal["keyword", "free_text", "carrier", "twilio", "admin", "migration"]
    user_id: str | None = None
    changed_at: datetime


@EVENTS.register
class CrisisDetected(Payload):
    """Crisis language in a caregiver's message, or an assessment that fell into the crisis band.

    Carries no message text. `high` starts the crisis follow-up cascade (the profile's
    `last_crisis_event_at` and `crisis_followup_count=0` arrive in `user.profile.changed`).
    """

    EVENT_TYPE = "crisis.detected"

    user_id: str
    phone: str = E164
    severity: Literal["high", "medium"]
    domestic_violence: bool = False
    source: Literal["message", "assessment"] = "message"
    detected_at: datetime


@EVENTS.register
class UserProfileChanged(Payload):
    """What proactive messaging needs of a profile, after the SMS worker changed it.

    A full snapshot, not a diff; apply only a `version` newer than the one already held.
    """

    EVENT_TYPE = "user.profile.changed"

    user_id: str
    phone: str = E164
    version: int = Field(ge=1)
    journey_phase: Literal["onboarding", "active", "churned"]
    timezone: str
    first_name: str | None = None
    burnout_score: float | None = None
    burnout_band: Literal["crisis", "high", "moderate", "mild", "thriving"] | None = None
    last_contact_at: datetime | None = None
    last_crisis_event_at: datetime | None = None
    crisis_followup_count: int = 0
    reactivation_message_count: int = 0
    sms_opt_out: bool = False
    checkin_preference: Literal["daily", "weekly"] | None = None
    snooze_until: datetime | None = None
    changed_at: datetime


DeferralReason = Literal["outside_window", "late"]


@EVENTS.register
class ProactiveMessageDeferred(Payload):
    """A `proactive.message.due` the SMS worker could not send when it consumed it: outside the
    recipient's local sending window, or more than `SMS_PROACTIVE_MAX_DELAY_HOURS` after it fell
    due. Nothing was sent; the scheduler gives back the slot and stage its claim took, so its
    rules decide again in the recipient's next window.

    The envelope's idempotency key is `proactive-deferred:<message_key>`.
    """

    EVENT_TYPE = "proactive.message.deferred"

    user_id: str
    phone: str = E164
    # The idempotency key of the `proactive.message.due` that was not sent.
    message_key: str = Field(min_length=1, max_length=480)
    kind: Literal["crisis_followup", "reactivation", "checkin"]
    stage: int = Field(ge=0)
    due_at: datetime
    reason: DeferralReason
    deferred_at: datetime


# --- published by the admin -----------------------------------------------------------------


@EVENTS.register
class CrisisAlertAcknowledged(Payload):
    """An operator has seen a crisis alert and taken it on: the SMS worker, which owns the
    alert, marks it acknowledged (open → acknowledged, once; a later one changes nothing).

    `acknowledged_by` is the operator's id in the admin's database, never a phone number. The
    envelope's idempotency key is `alert-ack:<alert id>`, so the alert is acknowledged by one
    event however often the request is repeated.
    """

    EVENT_TYPE = "crisis.alert.acknowledged"

    alert_id: str = Field(min_length=1)
    acknowledged_by: str = Field(min_length=1)
    note: str | None = Field(None, max_length=500)
    acknowledged_at: datetime


# Stripe keeps events for 30 days: a reconcile cannot reach further back.
RECONCILE_MAX_SECONDS = 30 * 86_400


@EVENTS.register
class BillingReconcileRequested(Payload):
    """An operator asked, through the admin API, for the Stripe events of a window that billing
    never received: the billing worker, which alone holds the Stripe key, lists and feeds them
    and records the outcome under `request_id` (`BillingViews.operator_request`).

    `requested_by` is the operator's id in the admin's database, never a phone number. The
    envelope's idempotency key is `billing-request:<request id>`.
    """

    EVENT_TYPE = "billing.reconcile.requested"

    request_id: str = Field(min_length=1, max_length=64)
    since_seconds: int = Field(gt=0, le=RECONCILE_MAX_SECONDS)
    requested_by: str = Field(min_length=1)
    requested_at: datetime


@EVENTS.register
class CheckoutLinkRequested(Payload):
    """An operator asked, through the admin API, for a Stripe Checkout link for a caregiver:
    the billing worker creates the session (Stripe's idempotency key is `request_id`, so a
    redelivery makes no second session) and records its URL under `request_id`."""

    EVENT_TYPE = "billing.checkout_link.requested"

    request_id: str = Field(min_length=1, max_length=64)
    phone: str = E164
    plan: Literal["monthly", "annual"]
    # The SMS worker's user id, when that phone has texted us.
    user_id: str | None = None
    requested_by: str = Field(min_length=1)
    requested_at: datetime


# --- published by the billing worker --------------------------------------------------------


@EVENTS.register
class BillingAccessChanged(Payload):
    """A user's subscription access flipped (gate for replies and proactive messages).

    The phone is the identity billing and the SMS worker share; `user_id` is the SMS worker's
    user id when the checkout carried it.
    """

    EVENT_TYPE = "billing.access.changed"

    phone: str = E164
    user_id: str | None = None
    has_access: bool
    status: str
    current_period_end: datetime | None = None
    changed_at: datetime


# --- published by the scheduler -----------------------------------------------------------


@EVENTS.register
class ProactiveMessageDue(Payload):
    """The scheduler decided a user should hear from us now; the SMS worker decides the words.

    The envelope's idempotency key is `proactive:<user>:<kind>:<stage or day>`, followed by
    `:deferred:<n>` when the same message was deferred n times before.
    """

    EVENT_TYPE = "proactive.message.due"

    user_id: str
    phone: str = E164
    kind: Literal["crisis_followup", "reactivation", "checkin"]
    stage: int = Field(ge=0)
    due_at: datetime


@EVENTS.register
class UserChurned(Payload):
    """Silent a day after the last reactivation message: no more proactive messages."""

    EVENT_TYPE = "user.churned"

    user_id: str
    phone: str = E164
    churned_at: datetime
