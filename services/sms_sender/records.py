"""What the sender's repositories take and return: plain records, no storage in sight.

Handlers, the dispatcher, the Mongo repositories (`store.py`) and the in-memory fake
(`tests/fakes/sms_sender.py`) all speak these, so a unit test and production read the same
shapes. `SendRecord` is also what other services read through `views.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Final

from domain import send_status
from shared.events import Envelope
from shared.events.catalog import SmsOutboundRequested

RETRIES_EXHAUSTED: Final = "retries_exhausted"
# Attempts a send's history keeps, newest last.
HISTORY_LIMIT: Final = 50
# When a recipient no opt-out change has reached yet last changed: before every real change.
NEVER_CHANGED: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Attempt:
    """One entry of a send's bounded attempt history (the sender's own diagnostics)."""

    attempt: int
    at: datetime
    outcome: str
    http_status: int | None = None
    error_code: int | None = None
    retry_in_seconds: float | None = None


@dataclass(frozen=True)
class SendRecord:
    """One requested SMS: the request as received, where its send stands, and its outcome.

    Field meanings are in docs/sms_sender.md (`outbound_messages`); `key` is the request's
    idempotency key. Reads for other services leave `history` empty.
    """

    key: str
    to_number: str
    body: str
    kind: str
    user_id: str | None
    compliance: bool
    status: str
    event_id: str
    correlation_id: str
    causation_id: str | None
    requested_at: datetime
    created_at: datetime | None = None
    updated_at: datetime | None = None
    reason: str | None = None
    chars: int | None = None
    encoding: str | None = None
    units: int | None = None
    segments: int | None = None
    attempts: int = 0
    reopened: int = 0
    claim: str | None = None
    lease_until: datetime | None = None
    attempt_started_at: datetime | None = None
    next_attempt_at: datetime | None = None
    in_doubt_since: datetime | None = None
    cap_slot_at: datetime | None = None
    provider_sid: str | None = None
    transport: str | None = None
    sent_at: datetime | None = None
    error_code: int | None = None
    error: str | None = None
    reported_status: str | None = None
    history: tuple[Attempt, ...] = ()

    @property
    def retries_exhausted(self) -> bool:
        return self.status == send_status.FAILED and self.reason == RETRIES_EXHAUSTED

    def request(self) -> Envelope[SmsOutboundRequested]:
        """The request this send was recorded from, with its original event id (to park it,
        or for an operator's retry)."""
        return Envelope[SmsOutboundRequested](
            id=self.event_id,
            type=SmsOutboundRequested.EVENT_TYPE,
            version=SmsOutboundRequested.EVENT_VERSION,
            occurred_at=self.requested_at,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            idempotency_key=self.key,
            payload=SmsOutboundRequested(
                to_number=self.to_number,
                body=self.body,
                kind=self.kind,
                user_id=self.user_id,
                compliance=self.compliance,
            ),
        )


@dataclass(frozen=True)
class Claim:
    """A send taken by one sender: its token is in every write of the outcome, so a holder
    whose lease was taken over cannot overwrite the new holder's."""

    token: str
    send: SendRecord  # as it was before this claim
    claimed_at: datetime
    # When this send took its place under the recipient's cap (kept with the outcome, so a
    # retry does not take a second place).
    cap_slot_at: datetime | None

    @property
    def key(self) -> str:
        return self.send.key

    @property
    def attempt(self) -> int:
        return self.send.attempts + 1


@dataclass(frozen=True)
class SendOutcome:
    """What one attempt came to, written with the claim's release (and the claim's place under
    the cap). `None` leaves a field as it is; `error` and `error_code` are written together (a
    new error replaces the old code, even with none); `in_doubt_since` only ever moves earlier."""

    status: str
    at: datetime
    attempt: Attempt
    reason: str | None = None
    error: str | None = None
    error_code: int | None = None
    provider_sid: str | None = None
    transport: str | None = None
    sent_at: datetime | None = None
    in_doubt_since: datetime | None = None


def _earliest(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None:
        return second
    if second is None:
        return first
    return min(first, second)


def with_outcome(send: SendRecord, claim: Claim, outcome: SendOutcome) -> SendRecord:
    """`send` with the outcome's fields (None leaves one as it is), its history entry, and the
    claim released."""
    changed = replace(
        send,
        status=outcome.status,
        updated_at=outcome.at,
        reason=outcome.reason or send.reason,
        provider_sid=outcome.provider_sid or send.provider_sid,
        transport=outcome.transport or send.transport,
        sent_at=outcome.sent_at or send.sent_at,
        cap_slot_at=claim.cap_slot_at or send.cap_slot_at,
        in_doubt_since=_earliest(send.in_doubt_since, outcome.in_doubt_since),
        claim=None,
        lease_until=None,
        history=(*send.history, outcome.attempt)[-HISTORY_LIMIT:],
    )
    if outcome.error is not None:
        changed = replace(changed, error=outcome.error, error_code=outcome.error_code)
    return changed


def finished(claim: Claim, outcome: SendOutcome) -> SendRecord:
    """The send as its holder's `outcome` leaves it, when nothing but the holder wrote to it
    since the claim: what a repository's `finish` returns without reading the row back."""
    held = replace(
        claim.send,
        status=send_status.SENDING,
        claim=claim.token,
        attempts=claim.attempt,
        attempt_started_at=claim.claimed_at,
    )
    return replace(with_outcome(held, claim, outcome), next_attempt_at=None)


@dataclass(frozen=True)
class OptOut:
    """An opt-out change as the sender's read model applies it (newest `changed_at` wins)."""

    phone: str
    opted_out: bool
    changed_at: datetime
    source: str


@dataclass(frozen=True)
class Recipient:
    """One number's opt-out state and its newest send times, newest first."""

    phone: str
    opted_out: bool
    changed_at: datetime
    source: str | None
    send_times: tuple[datetime, ...]


class Gate(Enum):
    OPEN = "open"
    OPTED_OUT = "opted_out"
    SEND_CAP = "send_cap"


@dataclass(frozen=True)
class CapPolicy:
    limit: int
    window: timedelta
