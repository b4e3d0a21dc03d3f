"""Event handlers of the scheduler: each feeds one fact into the proactive read model."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import structlog

from services.scheduler.metrics import SCHEDULER_DEFERRED
from services.scheduler.state import ProactiveStateStore, ReleaseOutcome
from shared.clock import Clock
from shared.events import Envelope
from shared.events.catalog import (
    BillingAccessChanged,
    CrisisDetected,
    ProactiveMessageDeferred,
    SmsOptOutChanged,
    UserProfileChanged,
)
from shared.inbox import Inbox
from shared.unit_of_work import UnitOfWork

log = structlog.get_logger(__name__)


class SchedulerHandlers:
    def __init__(self, store: ProactiveStateStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        # Outcomes of deferrals whose transaction has not finished yet, by event id: counted
        # once it has, so a retried transaction is not counted twice.
        self._releases: dict[uuid.UUID, ReleaseOutcome] = {}

    async def profile_changed(self, event: Envelope[UserProfileChanged], uow: UnitOfWork) -> None:
        await self._store.apply_profile(event.payload, self._clock.now(), uow.session)

    async def crisis_detected(self, event: Envelope[CrisisDetected], uow: UnitOfWork) -> None:
        await self._store.apply_crisis(event.payload, self._clock.now(), uow.session)

    async def opt_out_changed(self, event: Envelope[SmsOptOutChanged], uow: UnitOfWork) -> None:
        await self._store.apply_opt_out(event.payload, self._clock.now(), uow.session)

    async def access_changed(self, event: Envelope[BillingAccessChanged], uow: UnitOfWork) -> None:
        await self._store.apply_access(event.payload, self._clock.now(), uow.session)

    async def proactive_deferred(
        self, event: Envelope[ProactiveMessageDeferred], uow: UnitOfWork
    ) -> None:
        """The SMS worker could not send a message now: give its slot and stage back, so the
        rules decide again in the recipient's next window."""
        outcome = await self._store.release_claim(event.payload, self._clock.now(), uow.session)
        self._releases[event.id] = outcome

    def deferrals(
        self, inbox: Inbox[UnitOfWork]
    ) -> Callable[[Envelope[ProactiveMessageDeferred]], Awaitable[None]]:
        """`proactive_deferred` behind `inbox`, counted and logged once it has committed."""
        run = inbox.idempotent(self.proactive_deferred)

        async def handle(event: Envelope[ProactiveMessageDeferred]) -> None:
            try:
                await run(event)
                outcome = self._releases.get(event.id)
            finally:
                self._releases.pop(event.id, None)
            if outcome is None:
                return
            payload = event.payload
            SCHEDULER_DEFERRED.labels(payload.reason, outcome.value).inc()
            log.info(
                "proactive message deferred",
                outcome=outcome,
                reason=payload.reason,
                kind=payload.kind,
                stage=payload.stage,
                user_id=payload.user_id,
            )

        return handle
