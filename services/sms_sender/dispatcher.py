"""One claimed send, start to finish, and the poller that finds sends due again.

A dispatch claims the `outbound_messages` row (conditional update + lease), asks the provider
first when an earlier attempt may have reached it (a holder whose lease expired, a timeout, a
5xx), checks opt-out and the per-recipient cap, makes the one provider call and records what
happened. Every side effect outside the database happens here, never inside a transaction
callback; retries are this module's own (due time with full jitter), not the broker's.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

import structlog
from pymongo.errors import PyMongoError

from domain import send_status
from services.sms_sender.domain import twilio_statuses
from services.sms_sender.domain.backoff import retry_delay
from services.sms_sender.domain.classification import UNSUBSCRIBED, describe
from services.sms_sender.metrics import (
    SMS_DISPATCH_SECONDS,
    SMS_OUTCOMES,
    SMS_SEND_ATTEMPTS,
    SMS_SUPPRESSED,
)
from services.sms_sender.records import (
    RETRIES_EXHAUSTED,
    Attempt,
    CapPolicy,
    Claim,
    Gate,
    OptOut,
    SendOutcome,
    SendRecord,
)
from services.sms_sender.transport import (
    OutgoingSms,
    ProviderMessage,
    SendFailure,
    SmsTransport,
)
from services.sms_sender.unit_of_work import Claims, SenderTransactions, SenderWork, SendSlots
from services.sms_sender.updates import send_updated
from shared.clock import Clock
from shared.config import SenderSettings
from shared.events import Envelope, new_event
from shared.events.catalog import SmsOptOutChanged

log = structlog.get_logger(__name__)

# Never held back by the send cap (still counted, so they fill it for everything else): crisis
# resources, and the answers to STOP, START and HELP that carriers require. Each is bounded by
# the caregiver's own messages (one per inbound message), so none can become a storm.
CAP_EXEMPT_KINDS: Final = frozenset({"crisis", "compliance"})
# Keys the SMS worker gives crisis replies and opt-out/opt-in confirmations, whatever the kind.
CAP_EXEMPT_KEY_PREFIXES: Final = ("crisis:", "opt-out:", "opt-in:")


def cap_exempt(key: str, kind: str, *, compliance: bool) -> bool:
    """Whether a send skips the per-recipient caps: crisis replies (kind `crisis` or a
    `crisis:` key), opt-out/opt-in confirmations (`compliance=True`, or their keys) and the HELP
    text (kind `compliance`, which may not reach an opted-out number: only `compliance=True`
    may)."""
    return compliance or kind in CAP_EXEMPT_KINDS or key.startswith(CAP_EXEMPT_KEY_PREFIXES)


class ParkingLot(Protocol):
    async def park(self, send: SendRecord, attempts: int, error: str) -> None:
        """Put the request of a send that ran out of retries where operators look for them."""
        ...


def _same_body(provider_body: str | None, body: str) -> bool:
    if provider_body is None:
        return False
    return provider_body.replace("\r\n", "\n").strip() == body.replace("\r\n", "\n").strip()


def _earliest(first: datetime | None, second: datetime) -> datetime:
    return second if first is None or second < first else first


class Dispatcher:
    """Claims, gates, sends and records outcomes on session-less repositories (each a single
    conditional write that holds the moment it is made; an outcome's write keeps the
    `sms.send.updated` it publishes in the row, `shared.row_outbox`); an operator's reopen and
    a late provider status go through `transactions`."""

    def __init__(
        self,
        *,
        claims: Claims,
        slots: SendSlots,
        transactions: SenderTransactions,
        transport: SmsTransport,
        clock: Clock,
        settings: SenderSettings,
        parking: ParkingLot,
        unit_random: Callable[[], float] = random.random,
    ) -> None:
        self._claims = claims
        self._slots = slots
        self._transactions = transactions
        self._transport = transport
        self._clock = clock
        self._settings = settings
        self._parking = parking
        self._unit_random = unit_random
        self._lease = timedelta(seconds=settings.lease_seconds)
        self._caps = (
            CapPolicy(settings.send_cap, timedelta(seconds=settings.send_cap_window_seconds)),
            CapPolicy(settings.send_cap_daily, timedelta(days=1)),
        )

    async def dispatch(self, key: str) -> str | None:
        """Send `key` if it is due and nobody else holds it; returns the outcome, None if not
        ours to send now. Raises only when the database fails (the lease then covers the row)."""
        now = self._clock.now()
        claim = await self._claims.claim(key, uuid.uuid4().hex, now, now + self._lease)
        if claim is None:
            return None
        return await self.dispatch_claimed(claim)

    async def dispatch_claimed(self, claim: Claim) -> str:
        """Send what `claim` holds (taken by `dispatch`, or written claimed with the request);
        returns the outcome."""
        key = claim.key
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(outbound_key=key):
            outcome = await self._dispatch_claimed(claim)
        SMS_DISPATCH_SECONDS.labels(outcome).observe(time.perf_counter() - started)
        SMS_OUTCOMES.labels(self._transport.name, outcome).inc()
        return outcome

    async def _dispatch_claimed(self, claim: Claim) -> str:
        send = claim.send
        in_doubt_since = send.in_doubt_since
        if send.status == send_status.SENDING:
            # The previous holder died or stalled mid-send: its call may have reached Twilio.
            previous = send.attempt_started_at or claim.claimed_at
            in_doubt_since = _earliest(in_doubt_since, previous)
            log.warning("taking over a send whose lease expired", attempt=claim.attempt)
        if in_doubt_since is not None or send.provider_sid:
            resolved = await self._resolve(claim, in_doubt_since)
            if resolved is not None:
                return resolved
        if claim.attempt > self._settings.max_attempts:
            # Only reachable when senders keep dying mid-send: stop feeding the crash loop.
            failure = SendFailure("no attempt completed", http_status=None, code=None)
            return await self._exhaust(claim, failure, in_doubt_since)
        claim, gate = await self._gate(claim)
        if gate is not Gate.OPEN:
            SMS_SUPPRESSED.labels(gate.value).inc()
            log.info("outbound SMS suppressed", reason=gate.value, kind=send.kind)
            outcome = self._outcome(claim, send_status.SUPPRESSED, "suppressed")
            await self._finish(claim, replace(outcome, reason=gate.value))
            return "suppressed"
        SMS_SEND_ATTEMPTS.labels(self._transport.name).inc()
        try:
            message = await self._transport.send(
                OutgoingSms(claim.key, send.to_number, send.body, send.kind)
            )
        except SendFailure as failure:
            return await self._failed(claim, failure, in_doubt_since)
        except Exception as error:
            # A transport bug must not lose the send: treat it as an unknown outcome.
            log.exception("unexpected transport error")
            unknown = SendFailure(type(error).__name__, http_status=None, code=None)
            return await self._failed(claim, unknown, in_doubt_since)
        await self._record_sent(claim, message, "sent")
        return "sent"

    async def _resolve(self, claim: Claim, in_doubt_since: datetime | None) -> str | None:
        """Find a message an earlier attempt may have created; "resolved" if found, None when
        the provider has no such message (send), or the retry outcome if the lookup failed."""
        send = claim.send
        if send.provider_sid:
            # A status callback carrying our key already named the message.
            reported = send.reported_status or send_status.SENT
            await self._record_sent(claim, ProviderMessage(send.provider_sid, reported), "resolved")
            return "resolved"
        assert in_doubt_since is not None
        since = in_doubt_since - timedelta(seconds=self._settings.in_doubt_skew_seconds)
        try:
            found = await self._transport.find_sent(
                send.to_number, since, self._settings.in_doubt_lookup_limit
            )
        except SendFailure as failure:
            # Whatever the lookup's error, it says nothing about the send: still in doubt.
            unresolved = SendFailure(
                f"in-doubt lookup failed: {failure.reason}", http_status=None, code=None
            )
            return await self._failed(claim, unresolved, in_doubt_since)
        # Oldest first: the earliest matching message is the one our first attempt created.
        matching = [m for m in reversed(found) if _same_body(m.body, send.body)]
        taken = await self._claims.sids_of_other_sends([m.sid for m in matching], claim.key)
        for message in matching:
            if message.sid not in taken:
                log.warning("in-doubt send found at the provider; not sending again")
                await self._record_sent(claim, message, "resolved")
                return "resolved"
        log.info("in-doubt send not found at the provider; sending")
        return None

    async def _gate(self, claim: Claim) -> tuple[Claim, Gate]:
        """The claim (with its place under the cap, once it has one) and whether it may go."""
        send = claim.send
        if claim.cap_slot_at is not None:
            # A retry of a send that already has its place under the cap.
            if not send.compliance and await self._slots.opted_out(send.to_number):
                return claim, Gate.OPTED_OUT
            return claim, Gate.OPEN
        now = self._clock.now()
        gate = await self._slots.take_send_slot(
            send.to_number,
            now,
            self._caps,
            compliance=send.compliance,
            capped=not cap_exempt(claim.key, send.kind, compliance=send.compliance),
        )
        return (replace(claim, cap_slot_at=now) if gate is Gate.OPEN else claim), gate

    def _outcome(
        self, claim: Claim, status: str, label: str, failure: SendFailure | None = None
    ) -> SendOutcome:
        """The outcome `status` of this attempt, its history entry labelled `label`, and the
        failure's text and code when there was one."""
        now = self._clock.now()
        attempt = Attempt(claim.attempt, now, label)
        if failure is None:
            return SendOutcome(status, now, attempt)
        attempt = replace(attempt, http_status=failure.http_status, error_code=failure.code)
        return SendOutcome(status, now, attempt, error=failure.reason, error_code=failure.code)

    async def _finish(
        self, claim: Claim, outcome: SendOutcome, also: Sequence[Envelope[Any]] = ()
    ) -> SendRecord | None:
        """Record an outcome and publish it (`sms.send.updated`, after `also`) in one write to
        the send's row, which keeps the events until they are out (`shared.row_outbox`); a
        crash before the write leaves the row claimed, and the send is resolved after its
        lease; one after it only delays the events until their own lease runs out."""

        def events(after: SendRecord) -> list[Envelope[Any]]:
            return [*also, send_updated(after, outcome.status, outcome.at)]

        after = await self._claims.finish(claim, outcome, events)
        if after is None:
            log.warning("claim lost before the outcome was recorded", outcome=outcome.status)
        return after

    async def reopen(self, key: str) -> bool:
        """Start a send that ran out of retries over (a replayed request: an operator's retry)
        and publish its return to `pending`; False when it was no such send."""
        now = self._clock.now()

        async def write(uow: SenderWork) -> bool:
            send = await uow.sends.reopen_exhausted(key, now)
            if send is not None:
                await uow.emit(send_updated(send, send_status.PENDING, now))
            return send is not None

        return await self._transactions.run(write)

    async def _record_sent(self, claim: Claim, message: ProviderMessage, label: str) -> None:
        status = send_status.SENT
        for reported in (twilio_statuses.from_twilio(message.status), claim.send.reported_status):
            if reported is not None and send_status.advances(status, reported):
                status = reported
        outcome = replace(
            self._outcome(claim, status, label),
            provider_sid=message.sid,
            transport=self._transport.name,
            sent_at=self._clock.now(),
        )
        after = await self._finish(claim, outcome)
        late = after.reported_status if after is not None else None
        if after is None or late is None or not send_status.advances(status, late):
            return
        # A status callback arrived while this send was still claimed.
        now = self._clock.now()

        async def apply_late(uow: SenderWork) -> None:
            if await uow.sends.apply_reported_status(claim.key, message.sid, late, None, now):
                await uow.emit(send_updated(after, late, now))

        await self._transactions.run(apply_late)

    async def _failed(
        self, claim: Claim, failure: SendFailure, in_doubt_since: datetime | None
    ) -> str:
        kind = failure.classification
        if not kind.transient:
            return await self._reject(claim, failure)
        if kind.uncertain:
            in_doubt_since = _earliest(in_doubt_since, claim.claimed_at)
        if claim.attempt >= self._settings.max_attempts:
            return await self._exhaust(claim, failure, in_doubt_since)
        delay = retry_delay(
            claim.attempt,
            self._settings.retry_base_seconds,
            self._settings.retry_max_seconds,
            self._unit_random(),
        )
        outcome = self._outcome(claim, send_status.PENDING, "retry", failure)
        outcome = replace(
            outcome,
            attempt=replace(outcome.attempt, retry_in_seconds=delay.total_seconds()),
            in_doubt_since=in_doubt_since,
        )
        await self._claims.release_for_retry(claim, outcome, outcome.at + delay)
        log.warning(
            "send failed; retry scheduled",
            attempt=claim.attempt,
            retry_in_seconds=round(delay.total_seconds(), 3),
            http_status=failure.http_status,
            error_code=failure.code,
            error=failure.reason,
        )
        return "retry"

    async def _reject(self, claim: Claim, failure: SendFailure) -> str:
        """A permanent provider error: record it; 21610 also opts the recipient out."""
        outcome = replace(
            self._outcome(claim, send_status.PERMANENTLY_FAILED, "permanently_failed", failure),
            reason=describe(failure.code, "rejected by the provider"),
        )
        unsubscribed = failure.code == UNSUBSCRIBED
        send = claim.send
        if not unsubscribed:
            await self._finish(claim, outcome)
        else:
            # The opt-out is published with the outcome, in the same write; the read model
            # follows, and a crash before it is made good by the sender consuming that event.
            change = OptOut(send.to_number, True, outcome.at, "carrier")
            opted_out = new_event(
                SmsOptOutChanged(
                    phone=change.phone,
                    opted_out=True,
                    source=change.source,
                    user_id=send.user_id,
                    changed_at=change.changed_at,
                ),
                idempotency_key=f"sms_sender:carrier_opt_out:{claim.key}",
                correlation_id=send.correlation_id,
            )
            if await self._finish(claim, outcome, also=[opted_out]) is None:
                # Another holder records the send; the carrier's word still goes out.
                async def tell(uow: SenderWork) -> None:
                    await uow.emit(opted_out)

                await self._transactions.run(tell)
            await self._slots.apply_opt_out(change)
        log.warning(
            "send refused by the provider; not retrying",
            http_status=failure.http_status,
            error_code=failure.code,
            opted_out=unsubscribed,
        )
        return "permanently_failed"

    async def _exhaust(
        self, claim: Claim, failure: SendFailure, in_doubt_since: datetime | None
    ) -> str:
        outcome = replace(
            self._outcome(claim, send_status.FAILED, "failed"),
            reason=RETRIES_EXHAUSTED,
            error=failure.reason,
            error_code=failure.code,
            in_doubt_since=in_doubt_since,
        )
        await self._finish(claim, outcome)
        log.error("send failed on every attempt; parking the request", attempts=claim.attempt)
        await self._parking.park(claim.send, claim.attempt, failure.reason)
        return "failed"


class DuePoller:
    """Dispatches sends whose retry time came or whose holder's lease ran out; safe to run in
    every sender process (the claim keeps them off each other's rows)."""

    def __init__(
        self,
        claims: Claims,
        dispatcher: Dispatcher,
        clock: Clock,
        settings: SenderSettings,
    ) -> None:
        self._claims = claims
        self._dispatcher = dispatcher
        self._clock = clock
        self._settings = settings

    async def run_once(self) -> int:
        """Dispatch one batch of due sends; returns how many were taken."""
        keys = await self._claims.due_keys(self._clock.now(), self._settings.poll_batch_size)
        outcomes = await asyncio.gather(*(self._dispatch(key) for key in keys))
        return sum(1 for outcome in outcomes if outcome is not None)

    async def _dispatch(self, key: str) -> str | None:
        try:
            return await self._dispatcher.dispatch(key)
        except PyMongoError:
            log.warning("dispatch interrupted by a database error", exc_info=True)
            return None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                taken = await self.run_once()
            except PyMongoError:
                log.warning("sender poll failed; retrying", exc_info=True)
                taken = 0
            if taken >= self._settings.poll_batch_size:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._settings.poll_interval_seconds)
