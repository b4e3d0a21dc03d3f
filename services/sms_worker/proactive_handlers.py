"""The proactive consumer's handlers: a due message becomes one SMS request, a deferral back to
the scheduler, or a recorded reason.

`proactive.message.due` is re-checked against the profile (`proactive.suppression`) and either
suppressed; or deferred, when only the time is wrong (`proactive.deferral`: outside the
recipient's window, or late) — recorded, and `proactive.message.deferred` tells the scheduler,
which decides again in the next window; or sent: the profile commit (conditional on its
`version`, like the inbound worker's), the decision in `proactive_log`, then the SMS request
under the scheduler's idempotency key and the profile snapshot, all in the inbox's transaction,
so a redelivery can never send twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import structlog

from services.sms_worker.domain.proactive import (
    ChurnOutcome,
    Deferral,
    Due,
    UnknownTemplate,
    churn,
    compose,
    deferral,
    record_sent,
    suppression,
)
from services.sms_worker.domain.profile import Profile
from services.sms_worker.handlers import ProfileChanged, aware, profile_snapshot, request_sms
from services.sms_worker.records import (
    BillingAccess,
    ConversationEntry,
    ProactiveDecision,
    ProactiveOutcome,
    outbound_message_id,
)
from services.sms_worker.unit_of_work import SmsWork
from shared.broker import PermanentError
from shared.clock import Clock
from shared.events import Envelope, new_event
from shared.events.catalog import (
    DeferralReason,
    ProactiveMessageDeferred,
    ProactiveMessageDue,
    SmsOutboundRequested,
    UserChurned,
)

log = structlog.get_logger(__name__)

SENT: Final = "sent"
SUPPRESSED: Final = "suppressed"
DEFERRED: Final = "deferred"


@dataclass(frozen=True)
class ProactiveConfig:
    max_delay: timedelta
    subscriptions_enabled: bool
    recent_messages: int


class ProactiveMessages:
    """`proactive.message.due`: re-check, compose, record, request the SMS — once."""

    def __init__(self, clock: Clock, config: ProactiveConfig) -> None:
        self._clock = clock
        self._config = config

    async def handle(self, event: Envelope[ProactiveMessageDue], uow: SmsWork) -> None:
        payload = event.payload
        due = Due(payload.kind, payload.stage, aware(payload.due_at))
        try:
            compose(due.kind, due.stage, None)
        except UnknownTemplate as error:
            raise PermanentError(str(error)) from None
        profile = await uow.profiles.get(payload.user_id)
        access = None
        if self._config.subscriptions_enabled:
            access = BillingAccess.access(await uow.billing_access.get(payload.phone)).has_access
        now = self._clock.now()
        reason = suppression(
            profile, due, now=now, max_delay=self._config.max_delay, has_access=access
        )
        if reason is not None or profile is None:
            await self._record(event, uow, due, SUPPRESSED, body=None, reason=reason)
            log.info(
                "proactive message suppressed",
                kind=due.kind,
                stage=due.stage,
                reason=reason,
                user_id=payload.user_id,
            )
            return
        later = deferral(due, now=now, max_delay=self._config.max_delay, timezone=profile.timezone)
        if later is not None:
            # Nothing is sent and the profile is untouched; the scheduler gives back the slot
            # and stage its claim took and decides again in the recipient's next window.
            await self._record(event, uow, due, DEFERRED, body=None, reason=later)
            await self._defer(event, uow, later, now)
            log.info(
                "proactive message deferred",
                kind=due.kind,
                stage=due.stage,
                reason=later,
                user_id=payload.user_id,
            )
            return
        after = record_sent(profile, due, now)
        await _commit(profile, after, now, uow)
        body = compose(due.kind, due.stage, profile.first_name)
        await self._record(event, uow, due, SENT, body=body, reason=None)
        await self._request(event, uow, after, body, profile.version + 1)
        log.info(
            "proactive message requested", kind=due.kind, stage=due.stage, user_id=after.user_id
        )

    async def _record(
        self,
        event: Envelope[ProactiveMessageDue],
        uow: SmsWork,
        due: Due,
        outcome: ProactiveOutcome,
        *,
        body: str | None,
        reason: str | None,
    ) -> None:
        await uow.proactive_log.record(
            ProactiveDecision(
                key=event.idempotency_key,
                event_id=str(event.id),
                user_id=event.payload.user_id,
                kind=due.kind,
                stage=due.stage,
                due_at=due.due_at,
                outcome=outcome,
                decided_at=self._clock.now(),
                reason=reason,
                body=body,
            )
        )

    async def _defer(
        self,
        event: Envelope[ProactiveMessageDue],
        uow: SmsWork,
        later: Deferral,
        at: datetime,
    ) -> None:
        """Tell the scheduler this message was not sent."""
        payload = event.payload
        reason: DeferralReason = "late" if later is Deferral.LATE else "outside_window"
        await uow.emit(
            new_event(
                ProactiveMessageDeferred(
                    user_id=payload.user_id,
                    phone=payload.phone,
                    message_key=event.idempotency_key,
                    kind=payload.kind,
                    stage=payload.stage,
                    due_at=payload.due_at,
                    reason=reason,
                    deferred_at=at,
                ),
                idempotency_key=f"proactive-deferred:{event.idempotency_key}",
                caused_by=event,
                occurred_at=at,
            )
        )

    async def _request(
        self,
        event: Envelope[ProactiveMessageDue],
        uow: SmsWork,
        profile: Profile,
        body: str,
        version: int,
    ) -> None:
        """The SMS request under the scheduler's key, the conversation entry, the snapshot."""
        payload, now = event.payload, self._clock.now()
        await request_sms(
            new_event(
                SmsOutboundRequested(
                    to_number=payload.phone, body=body, kind="proactive", user_id=profile.user_id
                ),
                idempotency_key=event.idempotency_key,
                caused_by=event,
                occurred_at=now,
            ),
            uow,
        )
        await uow.conversations.remember_outbound(
            profile.user_id,
            ConversationEntry(
                outbound_message_id(event.idempotency_key), "outbound", body, now, kind="proactive"
            ),
            keep=self._config.recent_messages,
            now=now,
        )
        await _emit_snapshot(event, uow, profile, payload.phone, version, now)


class ChurnedUsers:
    """`user.churned`: the journey ends in `churned`, unless the user has written since."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def handle(self, event: Envelope[UserChurned], uow: SmsWork) -> None:
        payload, now = event.payload, self._clock.now()
        profile = await uow.profiles.get(payload.user_id)
        if profile is None:
            log.warning("churn for an unknown user; nothing to apply", user_id=payload.user_id)
            return
        outcome = churn(profile)
        log.info("user churned", outcome=outcome, user_id=payload.user_id)
        if outcome is ChurnOutcome.ALREADY_CHURNED:
            return
        # Not churned after all (the user wrote): the version still moves on, so the snapshot
        # brings the scheduler's read model, which marked the user churned, back in step.
        after = profile
        if outcome is ChurnOutcome.CHURNED:
            after = profile.model_copy(update={"journey_phase": "churned"})
        await _commit(profile, after, now, uow)
        await _emit_snapshot(event, uow, after, payload.phone, profile.version + 1, now)


async def _commit(before: Profile, after: Profile, now: datetime, uow: SmsWork) -> None:
    """The profile update, conditional on the version read, as the inbound worker does it; a
    profile that moved on meanwhile fails the event, and the broker's retry decides again."""
    if not await uow.profiles.update(before, after, now):
        raise ProfileChanged("the profile moved to a newer version")


async def _emit_snapshot(
    event: Envelope[ProactiveMessageDue] | Envelope[UserChurned],
    uow: SmsWork,
    profile: Profile,
    phone: str,
    version: int,
    at: datetime,
) -> None:
    await uow.emit(
        new_event(
            profile_snapshot(profile, phone, version, at),
            idempotency_key=f"profile:{event.id}",
            caused_by=event,
            occurred_at=at,
        )
    )
