"""Event handlers of the scheduler: each feeds one fact into the proactive read model."""

from __future__ import annotations

from services.scheduler.state import ProactiveStateStore
from shared.clock import Clock
from shared.events import Envelope
from shared.events.catalog import (
    BillingAccessChanged,
    CrisisDetected,
    SmsOptOutChanged,
    UserProfileChanged,
)
from shared.inbox import UnitOfWork


class SchedulerHandlers:
    def __init__(self, store: ProactiveStateStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def profile_changed(self, event: Envelope[UserProfileChanged], uow: UnitOfWork) -> None:
        await self._store.apply_profile(event.payload, self._clock.now(), uow.session)

    async def crisis_detected(self, event: Envelope[CrisisDetected], uow: UnitOfWork) -> None:
        await self._store.apply_crisis(event.payload, self._clock.now(), uow.session)

    async def opt_out_changed(self, event: Envelope[SmsOptOutChanged], uow: UnitOfWork) -> None:
        await self._store.apply_opt_out(event.payload, self._clock.now(), uow.session)

    async def access_changed(self, event: Envelope[BillingAccessChanged], uow: UnitOfWork) -> None:
        await self._store.apply_access(event.payload, self._clock.now(), uow.session)
