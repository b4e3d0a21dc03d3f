"""The sender's event handlers: record each request, follow delivery statuses, keep opt-outs.

Recording a request and sending it are separate steps on purpose: the record commits with the
inbox row (exactly once per event), the send happens after the commit (never inside a
transaction callback, which may run twice) and is made exactly-once by the row's claim. The
record is written already claimed by the process that recorded it (no separate claim round
trip); if that process dies before sending, the lease runs out and any sender's poller takes the
send over as one in doubt.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta

import structlog

from domain import send_status
from services.sms_sender.dispatcher import Dispatcher
from services.sms_sender.domain import twilio_statuses
from services.sms_sender.domain.body import count_segments, refusal_reason
from services.sms_sender.metrics import SMS_OUTCOMES
from services.sms_sender.records import Claim, OptOut, SendRecord
from services.sms_sender.unit_of_work import SenderWork
from services.sms_sender.updates import send_updated
from shared.broker import AlreadyProcessed
from shared.clock import Clock
from shared.events import Envelope
from shared.events.catalog import SmsOptOutChanged, SmsOutboundRequested, SmsStatusUpdated

log = structlog.get_logger(__name__)


class OutboundRequests:
    """Turns `sms.outbound.requested` into a send: claimed by this process for its first
    attempt, or refused."""

    def __init__(self, clock: Clock, max_body_chars: int, lease_seconds: float) -> None:
        self._clock = clock
        self._max_body_chars = max_body_chars
        self._lease = timedelta(seconds=lease_seconds)
        # The claims of sends recorded here, by key, until the intake takes them after the
        # commit (a transaction run twice replaces its entry with the one that committed).
        self._claims: dict[str, Claim] = {}

    def take_claim(self, key: str) -> Claim | None:
        """The claim `record` made for `key` in this process, once."""
        return self._claims.pop(key, None)

    def refusal(self, request: SmsOutboundRequested) -> str | None:
        return refusal_reason(request.body, self._max_body_chars)

    async def record(self, event: Envelope[SmsOutboundRequested], uow: SenderWork) -> None:
        request = event.payload
        key = event.idempotency_key
        now = self._clock.now()
        refusal = self.refusal(request)
        segments = count_segments(request.body)
        send = SendRecord(
            key=key,
            to_number=request.to_number,
            body=request.body,
            kind=request.kind,
            user_id=request.user_id,
            compliance=request.compliance,
            status=send_status.PERMANENTLY_FAILED if refusal else send_status.PENDING,
            event_id=str(event.id),
            correlation_id=event.correlation_id,
            causation_id=event.causation_id,
            requested_at=event.occurred_at,
            created_at=now,
            updated_at=now,
            reason=refusal,
            chars=len(request.body) if refusal else None,
            encoding=segments.encoding,
            units=segments.units,
            segments=segments.segments,
            next_attempt_at=None if refusal else now,
        )
        claimed = send
        if not refusal:
            # The first attempt's claim, taken in the same write (see the module docstring).
            claimed = replace(
                send,
                status=send_status.SENDING,
                claim=f"request:{event.id}",
                lease_until=now + self._lease,
                attempt_started_at=now,
                attempts=1,
            )
        if await uow.sends.record(claimed):
            if refusal:
                await uow.emit(send_updated(send, send.status, now))
            else:
                assert claimed.claim is not None
                self._claims[key] = Claim(claimed.claim, send, now, None)
            return
        reopened = await uow.sends.reopen_exhausted(key, now)
        if reopened is not None:
            # The same request again after the inbox forgot it (a dead letter replayed weeks
            # later): as with a replay the inbox still knows, a send out of retries starts over.
            await uow.emit(send_updated(reopened, send_status.PENDING, now))
            log.warning("failed send reopened by a replayed request", outbound_key=key)


class RequestIntake:
    """The consumer's entry for `sms.outbound.requested`: record (idempotent), then send at
    once. The acknowledgement waits for the send; if this process dies first, the row is still
    pending or claimed and the due-time poller of any sender finishes it."""

    def __init__(
        self,
        record: Callable[[Envelope[SmsOutboundRequested]], Awaitable[None]],
        requests: OutboundRequests,
        dispatcher: Dispatcher,
        transport_name: str,
    ) -> None:
        self._record = record
        self._requests = requests
        self._dispatcher = dispatcher
        self._transport_name = transport_name

    async def __call__(self, event: Envelope[SmsOutboundRequested]) -> None:
        key = event.idempotency_key
        try:
            await self._record(event)
        except AlreadyProcessed:
            self._requests.take_claim(key)
            # Delivered again: a redelivery, or an operator replaying a parked request, which
            # starts a send that ran out of retries over (the claim still sends at most once).
            if await self._dispatcher.reopen(key):
                log.warning("failed send reopened by a replayed request", outbound_key=key)
            await self._dispatcher.dispatch(key)
            raise
        except BaseException:
            self._requests.take_claim(key)  # not committed: nothing was claimed
            raise
        reason = self._requests.refusal(event.payload)
        if reason is not None:
            SMS_OUTCOMES.labels(self._transport_name, "refused").inc()
            log.warning("outbound SMS refused", outbound_key=key, reason=reason)
            return
        claim = self._requests.take_claim(key)
        if claim is None:
            await self._dispatcher.dispatch(key)  # recorded before (a reopened send)
        else:
            await self._dispatcher.dispatch_claimed(claim)


class DeliveryStatuses:
    """Applies Twilio status callbacks (`sms.status.updated`), forwards only."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def apply(self, event: Envelope[SmsStatusUpdated], uow: SenderWork) -> None:
        update = event.payload
        status = twilio_statuses.from_twilio(update.status)
        if status is None:
            log.info("status callback ignored: not an outbound status", status=update.status)
            return
        send = await uow.sends.find_for_status(update.outbound_key, update.message_sid)
        if send is None:
            # Not a message this sender recorded (sent from elsewhere, or long expired).
            log.info("status callback for an unknown message", provider_sid=update.message_sid)
            return
        if send.provider_sid not in (None, update.message_sid):
            log.warning(
                "status callback names another message than the send recorded",
                outbound_key=send.key,
                provider_sid=update.message_sid,
            )
            return
        now = self._clock.now()
        if await uow.sends.apply_reported_status(
            send.key, update.message_sid, status, update.error_code, now
        ):
            reported = replace(send, provider_sid=update.message_sid)
            await uow.emit(send_updated(reported, status, now, error_code=update.error_code))


async def apply_opt_out(event: Envelope[SmsOptOutChanged], uow: SenderWork) -> None:
    """Keeps `sms_recipients` in step with `sms.optout.changed` (newest change wins)."""
    change = event.payload
    await uow.recipients.apply_opt_out(
        OptOut(change.phone, change.opted_out, change.changed_at, change.source)
    )
