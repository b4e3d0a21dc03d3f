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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol

import structlog
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import PyMongoError

from domain import send_status
from services.sms_sender import twilio_statuses
from services.sms_sender.backoff import retry_delay
from services.sms_sender.classification import UNSUBSCRIBED, describe
from services.sms_sender.metrics import (
    SMS_DISPATCH_SECONDS,
    SMS_OUTCOMES,
    SMS_SEND_ATTEMPTS,
    SMS_SUPPRESSED,
)
from services.sms_sender.store import (
    RETRIES_EXHAUSTED,
    CapPolicy,
    Gate,
    OutboundStore,
    RecipientStore,
)
from services.sms_sender.transport import (
    OutgoingSms,
    ProviderMessage,
    SendFailure,
    SmsTransport,
)
from services.sms_sender.updates import send_updated
from shared.clock import Clock
from shared.config import SenderSettings
from shared.events import new_event
from shared.events.catalog import SmsOptOutChanged
from shared.mongo import Atomic, Document
from shared.outbox import Outbox

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
    async def park(self, row: Document, attempts: int, error: str) -> None:
        """Put the request of a send that ran out of retries where operators look for them."""
        ...


@dataclass
class _Claim:
    key: str
    token: str
    row: Document  # as it was before this claim
    claimed_at: datetime
    # When this send took its place under the recipient's cap (kept with the outcome, so a
    # retry does not take a second place).
    cap_slot_at: datetime | None = None

    def __post_init__(self) -> None:
        self.cap_slot_at = self.row.get("cap_slot_at")

    def with_cap_slot(self, fields: Document) -> Document:
        return {**fields, "cap_slot_at": self.cap_slot_at} if self.cap_slot_at else fields

    @property
    def attempt(self) -> int:
        return int(self.row.get("attempts", 0)) + 1

    @property
    def sms(self) -> OutgoingSms:
        return OutgoingSms(self.key, self.row["to_number"], self.row["body"], self.row["kind"])


def _same_body(provider_body: str | None, body: str) -> bool:
    if provider_body is None:
        return False
    return provider_body.replace("\r\n", "\n").strip() == body.replace("\r\n", "\n").strip()


def _earliest(first: datetime | None, second: datetime) -> datetime:
    return second if first is None or second < first else first


class Dispatcher:
    def __init__(
        self,
        *,
        outbound: OutboundStore,
        recipients: RecipientStore,
        transport: SmsTransport,
        outbox: Outbox,
        atomic: Atomic,
        clock: Clock,
        settings: SenderSettings,
        parking: ParkingLot,
        unit_random: Callable[[], float] = random.random,
    ) -> None:
        self._outbound = outbound
        self._recipients = recipients
        self._transport = transport
        self._outbox = outbox
        self._atomic = atomic
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
        token = uuid.uuid4().hex
        row = await self._outbound.claim(key, token, now, now + self._lease)
        if row is None:
            return None
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(outbound_key=key):
            outcome = await self._dispatch_claimed(_Claim(key, token, row, now))
        SMS_DISPATCH_SECONDS.labels(outcome).observe(time.perf_counter() - started)
        SMS_OUTCOMES.labels(self._transport.name, outcome).inc()
        return outcome

    async def _dispatch_claimed(self, claim: _Claim) -> str:
        in_doubt_since: datetime | None = claim.row.get("in_doubt_since")
        if claim.row["status"] == send_status.SENDING:
            # The previous holder died or stalled mid-send: its call may have reached Twilio.
            previous = claim.row.get("attempt_started_at") or claim.claimed_at
            in_doubt_since = _earliest(in_doubt_since, previous)
            log.warning("taking over a send whose lease expired", attempt=claim.attempt)
        if in_doubt_since is not None or claim.row.get("provider_sid"):
            resolved = await self._resolve(claim, in_doubt_since)
            if resolved is not None:
                return resolved
        if claim.attempt > self._settings.max_attempts:
            # Only reachable when senders keep dying mid-send: stop feeding the crash loop.
            failure = SendFailure("no attempt completed", http_status=None, code=None)
            return await self._exhaust(claim, failure, in_doubt_since)
        gate = await self._gate(claim)
        if gate is not Gate.OPEN:
            SMS_SUPPRESSED.labels(gate.value).inc()
            log.info("outbound SMS suppressed", reason=gate.value, kind=claim.row["kind"])
            await self._finish(claim, send_status.SUPPRESSED, {"reason": gate.value}, "suppressed")
            return "suppressed"
        SMS_SEND_ATTEMPTS.labels(self._transport.name).inc()
        try:
            message = await self._transport.send(claim.sms)
        except SendFailure as failure:
            return await self._failed(claim, failure, in_doubt_since)
        except Exception as error:
            # A transport bug must not lose the send: treat it as an unknown outcome.
            log.exception("unexpected transport error")
            unknown = SendFailure(type(error).__name__, http_status=None, code=None)
            return await self._failed(claim, unknown, in_doubt_since)
        await self._record_sent(claim, message, "sent")
        return "sent"

    async def _resolve(self, claim: _Claim, in_doubt_since: datetime | None) -> str | None:
        """Find a message an earlier attempt may have created; "resolved" if found, None when
        the provider has no such message (send), or the retry outcome if the lookup failed."""
        known_sid = claim.row.get("provider_sid")
        if known_sid:
            # A status callback carrying our key already named the message.
            reported = claim.row.get("reported_status") or send_status.SENT
            await self._record_sent(claim, ProviderMessage(known_sid, reported), "resolved")
            return "resolved"
        assert in_doubt_since is not None
        since = in_doubt_since - timedelta(seconds=self._settings.in_doubt_skew_seconds)
        try:
            found = await self._transport.find_sent(
                claim.row["to_number"], since, self._settings.in_doubt_lookup_limit
            )
        except SendFailure as failure:
            # Whatever the lookup's error, it says nothing about the send: still in doubt.
            unresolved = SendFailure(
                f"in-doubt lookup failed: {failure.reason}", http_status=None, code=None
            )
            return await self._failed(claim, unresolved, in_doubt_since)
        # Oldest first: the earliest matching message is the one our first attempt created.
        matching = [m for m in reversed(found) if _same_body(m.body, claim.row["body"])]
        taken = await self._outbound.sids_of_other_sends([m.sid for m in matching], claim.key)
        for message in matching:
            if message.sid not in taken:
                log.warning("in-doubt send found at the provider; not sending again")
                await self._record_sent(claim, message, "resolved")
                return "resolved"
        log.info("in-doubt send not found at the provider; sending")
        return None

    async def _gate(self, claim: _Claim) -> Gate:
        row = claim.row
        to_number = row["to_number"]
        if claim.cap_slot_at is not None:
            # A retry of a send that already has its place under the cap.
            if not row.get("compliance") and await self._recipients.opted_out(to_number):
                return Gate.OPTED_OUT
            return Gate.OPEN
        now = self._clock.now()
        gate = await self._recipients.take_send_slot(
            to_number,
            now,
            self._caps,
            compliance=bool(row.get("compliance")),
            capped=not cap_exempt(claim.key, row["kind"], compliance=bool(row.get("compliance"))),
        )
        if gate is Gate.OPEN:
            claim.cap_slot_at = now
        return gate

    def _history(self, claim: _Claim, outcome: str, failure: SendFailure | None = None) -> Document:
        entry: Document = {"attempt": claim.attempt, "at": self._clock.now(), "outcome": outcome}
        if failure is not None:
            entry["http_status"] = failure.http_status
            entry["error_code"] = failure.code
        return entry

    async def _finish(
        self, claim: _Claim, status: str, fields: Document, outcome: str
    ) -> Document | None:
        """Record an outcome and publish it (`sms.send.updated`) in one transaction; a crash
        before the commit leaves the row claimed, and the send is resolved after its lease."""
        now = self._clock.now()

        async def write(session: AsyncClientSession) -> Document | None:
            after = await self._outbound.finish(
                claim.key,
                claim.token,
                status,
                now,
                claim.with_cap_slot(fields),
                self._history(claim, outcome),
                session,
            )
            if after is not None:
                await self._outbox.add(send_updated(after, status, now), session)
            return after

        after = await self._atomic(write)
        self._outbox.notify()
        if after is None:
            log.warning("claim lost before the outcome was recorded", outcome=outcome)
        return after

    async def reopen(self, key: str) -> bool:
        """Start a send that ran out of retries over (a replayed request: an operator's retry)
        and publish its return to `pending`; False when it was no such send."""
        now = self._clock.now()

        async def write(session: AsyncClientSession) -> bool:
            row = await self._outbound.reopen_exhausted(key, now, session)
            if row is not None:
                await self._outbox.add(send_updated(row, send_status.PENDING, now), session)
            return row is not None

        reopened = await self._atomic(write)
        self._outbox.notify()
        return reopened

    async def _record_sent(self, claim: _Claim, message: ProviderMessage, outcome: str) -> None:
        status = send_status.SENT
        for reported in (
            twilio_statuses.from_twilio(message.status),
            claim.row.get("reported_status"),
        ):
            if reported is not None and send_status.advances(status, reported):
                status = reported
        fields = {
            "provider_sid": message.sid,
            "transport": self._transport.name,
            "sent_at": self._clock.now(),
        }
        after = await self._finish(claim, status, fields, outcome)
        late = after.get("reported_status") if after is not None else None
        if after is not None and late is not None and send_status.advances(status, late):
            # A status callback arrived while this send was still claimed.
            now = self._clock.now()

            async def apply_late(session: AsyncClientSession) -> None:
                if await self._outbound.apply_reported_status(
                    claim.key, message.sid, late, None, now, session
                ):
                    await self._outbox.add(send_updated(after, late, now), session)

            await self._atomic(apply_late)
            self._outbox.notify()

    async def _failed(
        self, claim: _Claim, failure: SendFailure, in_doubt_since: datetime | None
    ) -> str:
        kind = failure.classification
        if not kind.transient:
            return await self._reject(claim, failure)
        if kind.uncertain:
            in_doubt_since = _earliest(in_doubt_since, claim.claimed_at)
        if claim.attempt >= self._settings.max_attempts:
            return await self._exhaust(claim, failure, in_doubt_since)
        now = self._clock.now()
        delay = retry_delay(
            claim.attempt,
            self._settings.retry_base_seconds,
            self._settings.retry_max_seconds,
            self._unit_random(),
        )
        history = {
            **self._history(claim, "retry", failure),
            "retry_in_seconds": delay.total_seconds(),
        }
        await self._outbound.release_for_retry(
            claim.key,
            claim.token,
            now,
            now + delay,
            in_doubt_since,
            claim.with_cap_slot({"error": failure.reason, "error_code": failure.code}),
            history,
        )
        log.warning(
            "send failed; retry scheduled",
            attempt=claim.attempt,
            retry_in_seconds=round(delay.total_seconds(), 3),
            http_status=failure.http_status,
            error_code=failure.code,
            error=failure.reason,
        )
        return "retry"

    async def _reject(self, claim: _Claim, failure: SendFailure) -> str:
        """A permanent provider error: record it; 21610 also opts the recipient out."""
        now = self._clock.now()
        fields = {
            "reason": describe(failure.code, "rejected by the provider"),
            "error_code": failure.code,
            "error": failure.reason,
        }
        history = self._history(claim, "permanently_failed", failure)
        unsubscribed = failure.code == UNSUBSCRIBED
        row = claim.row

        async def write(session: AsyncClientSession) -> None:
            if unsubscribed:
                await self._recipients.apply_opt_out(
                    row["to_number"], True, now, "carrier", session
                )
                change = SmsOptOutChanged(
                    phone=row["to_number"],
                    opted_out=True,
                    source="carrier",
                    user_id=row.get("user_id"),
                    changed_at=now,
                )
                await self._outbox.add(
                    new_event(
                        change,
                        idempotency_key=f"sms_sender:carrier_opt_out:{claim.key}",
                        correlation_id=row.get("correlation_id"),
                    ),
                    session,
                )
            after = await self._outbound.finish(
                claim.key,
                claim.token,
                send_status.PERMANENTLY_FAILED,
                now,
                fields,
                history,
                session,
            )
            if after is not None:
                update = send_updated(after, send_status.PERMANENTLY_FAILED, now)
                await self._outbox.add(update, session)

        await self._atomic(write)
        self._outbox.notify()
        log.warning(
            "send refused by the provider; not retrying",
            http_status=failure.http_status,
            error_code=failure.code,
            opted_out=unsubscribed,
        )
        return "permanently_failed"

    async def _exhaust(
        self, claim: _Claim, failure: SendFailure, in_doubt_since: datetime | None
    ) -> str:
        fields: Document = {
            "reason": RETRIES_EXHAUSTED,
            "error": failure.reason,
            "error_code": failure.code,
        }
        if in_doubt_since is not None:
            fields["in_doubt_since"] = in_doubt_since
        await self._finish(claim, send_status.FAILED, fields, "failed")
        log.error("send failed on every attempt; parking the request", attempts=claim.attempt)
        await self._parking.park(claim.row, claim.attempt, failure.reason)
        return "failed"


class DuePoller:
    """Dispatches sends whose retry time came or whose holder's lease ran out; safe to run in
    every sender process (the claim keeps them off each other's rows)."""

    def __init__(
        self,
        outbound: OutboundStore,
        dispatcher: Dispatcher,
        clock: Clock,
        settings: SenderSettings,
    ) -> None:
        self._outbound = outbound
        self._dispatcher = dispatcher
        self._clock = clock
        self._settings = settings

    async def run_once(self) -> int:
        """Dispatch one batch of due sends; returns how many were taken."""
        keys = await self._outbound.due_keys(self._clock.now(), self._settings.poll_batch_size)
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
