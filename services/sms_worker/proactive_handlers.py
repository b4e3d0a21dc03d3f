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

import structlog

from services.sms_worker.handlers import (
    ProfileChanged,
    aware,
    outbound_message_id,
    profile_snapshot,
)
from services.sms_worker.proactive import (
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
from services.sms_worker.profile import Profile, changed_fields
from services.sms_worker.storage import Session, SmsStore
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
from shared.unit_of_work import UnitOfWork

log = structlog.get_logger(__name__)

SENT = "sent"
SUPPRESSED = "suppressed"
DEFERRED = "deferred"


@dataclass(frozen=True)
class ProactiveConfig:
    max_delay: timedelta
    subscriptions_enabled: bool
    recent_messages: int


class ProactiveMessages:
    """`proactive.message.due`: re-check, compose, record, request the SMS — once."""

    def __init__(self, store: SmsStore, clock: Clock, config: ProactiveConfig) -> None:
        self._store = store
        self._clock = clock
        self._config = config

    async def handle(self, event: Envelope[ProactiveMessageDue], uow: UnitOfWork) -> None:
        payload, session = event.payload, uow.session
        due = Due(payload.kind, payload.stage, aware(payload.due_at))
        try:
            compose(due.kind, due.stage, None)
        except UnknownTemplate as error:
            raise PermanentError(str(error)) from None
        document = await self._store.profile(payload.user_id, session)
        profile = Profile.model_validate(document) if document is not None else None
        access = None
        if self._config.subscriptions_enabled:
            access = (await self._store.access(payload.phone)).has_access
        now = self._clock.now()
        reason = suppression(
            profile, due, now=now, max_delay=self._config.max_delay, has_access=access
        )
        if reason is not None or profile is None:
            await self._record(event, due, SUPPRESSED, body=None, reason=reason, session=session)
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
            await self._record(event, due, DEFERRED, body=None, reason=later, session=session)
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
        await _commit(self._store, profile, after, now, uow)
        body = compose(due.kind, due.stage, profile.first_name)
        await self._record(event, due, SENT, body=body, reason=None, session=session)
        await self._request(event, uow, after, body, profile.version + 1)
        log.info(
            "proactive message requested", kind=due.kind, stage=due.stage, user_id=after.user_id
        )

    async def _record(
        self,
        event: Envelope[ProactiveMessageDue],
        due: Due,
        outcome: str,
        *,
        body: str | None,
        reason: str | None,
        session: Session,
    ) -> None:
        await self._store.record_proactive_decision(
            event.idempotency_key,
            {
                "event_id": str(event.id),
                "user_id": event.payload.user_id,
                "kind": due.kind,
                "stage": due.stage,
                "due_at": due.due_at,
                "outcome": outcome,
                "reason": reason,
                "body": body,
                "decided_at": self._clock.now(),
            },
            session,
        )

    async def _defer(
        self,
        event: Envelope[ProactiveMessageDue],
        uow: UnitOfWork,
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
        uow: UnitOfWork,
        profile: Profile,
        body: str,
        version: int,
    ) -> None:
        """The SMS request under the scheduler's key, the conversation entry, the snapshot."""
        payload, now = event.payload, self._clock.now()
        await uow.emit(
            new_event(
                SmsOutboundRequested(
                    to_number=payload.phone, body=body, kind="proactive", user_id=profile.user_id
                ),
                idempotency_key=event.idempotency_key,
                caused_by=event,
                occurred_at=now,
            )
        )
        await self._store.remember_outbound(
            profile.user_id,
            {
                "id": outbound_message_id(event.idempotency_key),
                "direction": "outbound",
                "body": body,
                "kind": "proactive",
                "at": now,
            },
            keep=self._config.recent_messages,
            now=now,
            session=uow.session,
        )
        await _emit_snapshot(event, uow, profile, payload.phone, version, now)


class ChurnedUsers:
    """`user.churned`: the journey ends in `churned`, unless the user has written since."""

    def __init__(self, store: SmsStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def handle(self, event: Envelope[UserChurned], uow: UnitOfWork) -> None:
        payload, now = event.payload, self._clock.now()
        document = await self._store.profile(payload.user_id, uow.session)
        if document is None:
            log.warning("churn for an unknown user; nothing to apply", user_id=payload.user_id)
            return
        profile = Profile.model_validate(document)
        outcome = churn(profile)
        log.info("user churned", outcome=outcome, user_id=payload.user_id)
        if outcome is ChurnOutcome.ALREADY_CHURNED:
            return
        # Not churned after all (the user wrote): the version still moves on, so the snapshot
        # brings the scheduler's read model, which marked the user churned, back in step.
        after = profile
        if outcome is ChurnOutcome.CHURNED:
            after = profile.model_copy(update={"journey_phase": "churned"})
        await _commit(self._store, profile, after, now, uow)
        await _emit_snapshot(event, uow, after, payload.phone, profile.version + 1, now)


async def _commit(
    store: SmsStore,
    before: Profile,
    after: Profile,
    now: datetime,
    uow: UnitOfWork,
) -> None:
    """The profile update, conditional on the version read, as the inbound worker does it; a
    profile that moved on meanwhile fails the event, and the broker's retry decides again."""
    changes = changed_fields(before, after)
    changes.pop("version", None)
    committed = await store.commit_profile(
        before.user_id,
        expected_version=before.version,
        changes=changes,
        now=now,
        session=uow.session,
    )
    if not committed:
        raise ProfileChanged("the profile moved to a newer version")


async def _emit_snapshot(
    event: Envelope[ProactiveMessageDue] | Envelope[UserChurned],
    uow: UnitOfWork,
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
