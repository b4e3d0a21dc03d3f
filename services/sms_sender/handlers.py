"""The sender's event handlers: record each request, follow delivery statuses, keep opt-outs.

Recording a request and sending it are separate steps on purpose: the record is durable before
the send, the send happens after it (never inside a transaction callback, which may run twice)
and is made exactly-once by the row's claim. The record is one upsert keyed by the request's
idempotency key, written already claimed by the process that recorded it (no separate claim
round trip), and needs no inbox row: the key is the request's identity, a request seen before
finds its row and is only dispatched again (which the claim turns into nothing while the send is
in hand), and a send out of retries is reopened by a replay. If the recording process dies
before sending, the lease runs out and any sender's poller takes the send over as one in doubt.
A refused request is recorded with the step it publishes, in one transaction.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import structlog

from domain import send_status
from services.sms_sender.dispatcher import Dispatcher
from services.sms_sender.domain import twilio_statuses
from services.sms_sender.domain.body import count_segments, refusal_reason
from services.sms_sender.metrics import SMS_OUTCOMES
from services.sms_sender.records import Claim, OptOut, SendRecord
from services.sms_sender.unit_of_work import Claims, SenderTransactions, SenderWork
from services.sms_sender.updates import send_updated
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

    def refusal(self, request: SmsOutboundRequested) -> str | None:
        return refusal_reason(request.body, self._max_body_chars)

    def _send(self, event: Envelope[SmsOutboundRequested], now: datetime) -> SendRecord:
        request = event.payload
        refusal = self.refusal(request)
        segments = count_segments(request.body)
        return SendRecord(
            key=event.idempotency_key,
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

    async def record(self, event: Envelope[SmsOutboundRequested], sends: Claims) -> Claim | None:
        """Record a request that may go, already claimed for its first attempt, in one write
        (see the module docstring); the claim, or None when the key was recorded before."""
        now = self._clock.now()
        send = self._send(event, now)
        token = f"request:{event.id}"
        claimed = replace(
            send,
            status=send_status.SENDING,
            claim=token,
            lease_until=now + self._lease,
            attempt_started_at=now,
            attempts=1,
        )
        if not await sends.record(claimed):
            return None
        return Claim(token, send, now, None)

    async def record_refused(self, event: Envelope[SmsOutboundRequested], uow: SenderWork) -> bool:
        """Record a request that may not go, with its `permanently_failed` step; False when
        the key was recorded before."""
        now = self._clock.now()
        send = self._send(event, now)
        if not await uow.sends.record(send):
            return False
        await uow.emit(send_updated(send, send.status, now))
        return True


class RequestIntake:
    """The consumer's entry for `sms.outbound.requested`: record (idempotent by key), then send
    at once. The acknowledgement waits for the send; if this process dies first, the row is
    still claimed and the due-time poller of any sender finishes it after the lease."""

    def __init__(
        self,
        requests: OutboundRequests,
        sends: Claims,
        transactions: SenderTransactions,
        dispatcher: Dispatcher,
        transport_name: str,
    ) -> None:
        self._requests = requests
        self._sends = sends
        self._transactions = transactions
        self._dispatcher = dispatcher
        self._transport_name = transport_name

    async def __call__(self, event: Envelope[SmsOutboundRequested]) -> None:
        key = event.idempotency_key
        reason = self._requests.refusal(event.payload)
        if reason is not None:

            async def refuse(uow: SenderWork) -> bool:
                return await self._requests.record_refused(event, uow)

            if await self._transactions.run(refuse):
                SMS_OUTCOMES.labels(self._transport_name, "refused").inc()
                log.warning("outbound SMS refused", outbound_key=key, reason=reason)
                return
        else:
            claim = await self._requests.record(event, self._sends)
            if claim is not None:
                await self._dispatcher.dispatch_claimed(claim)
                return
        # Recorded before: the broker delivered it again, or an operator replays a parked
        # request, which starts a send that ran out of retries over (the claim still sends at
        # most once; a send in hand is not claimed again).
        if await self._dispatcher.reopen(key):
            log.warning("failed send reopened by a replayed request", outbound_key=key)
        await self._dispatcher.dispatch(key)


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
