"""`shared.inbox.Inbox`'s promise over an in-memory unit of work, for handler unit tests.

An event's effect happens once (a second delivery raises `AlreadyProcessed`), a handler that
raises leaves nothing behind (`FakeUnitOfWork.run`), and a planned handler whose plan went
stale is planned again, up to `MAX_PLANS` times, as the real inbox does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from shared.broker.consumer import AlreadyProcessed
from shared.events import Envelope
from shared.inbox import MAX_PLANS, RecordsItself
from shared.unit_of_work import PlannedHandler, StalePlan
from tests.fakes.unit_of_work import FakeUnitOfWork

W = TypeVar("W", bound=FakeUnitOfWork)
P = TypeVar("P")
PlanT = TypeVar("PlanT")


class FakeInbox(Generic[W]):
    def __init__(self, uow: W) -> None:
        self.uow = uow
        self._seen: set[str] = set()
        # Plans made per event id, so a test can see a stale plan made again.
        self.plans: dict[str, int] = {}

    def idempotent(
        self, handler: Callable[[Envelope[P], W], Awaitable[None]]
    ) -> Callable[[Envelope[P]], Awaitable[None]]:
        async def run(event: Envelope[P]) -> None:
            await self._once(event, lambda uow: handler(event, uow))

        return run

    def planned(
        self, handler: PlannedHandler[P, PlanT, W]
    ) -> Callable[[Envelope[P]], Awaitable[None]]:
        return self._planned(handler, self._has_seen, inbox_row=True)

    def planned_with_own_record(
        self, handler: RecordsItself[P, PlanT, W]
    ) -> Callable[[Envelope[P]], Awaitable[None]]:
        """No inbox row: the handler's record recognises a repeat, as with the real inbox."""
        return self._planned(handler, handler.handled, inbox_row=False)

    async def _has_seen(self, event: Envelope[Any]) -> bool:
        return str(event.id) in self._seen

    def _planned(
        self,
        handler: PlannedHandler[P, PlanT, W],
        handled: Callable[[Envelope[P]], Awaitable[bool]],
        *,
        inbox_row: bool,
    ) -> Callable[[Envelope[P]], Awaitable[None]]:
        async def run(event: Envelope[P]) -> None:
            if await handled(event):
                raise AlreadyProcessed
            for _ in range(MAX_PLANS):
                plan = await handler.plan(event)
                self.plans[str(event.id)] = self.plans.get(str(event.id), 0) + 1

                async def apply(uow: W, plan: PlanT = plan) -> None:
                    await handler.apply(event, plan, uow)

                try:
                    if inbox_row:
                        await self._once(event, apply)
                    else:
                        await self.uow.run(apply)
                except StalePlan:
                    continue
                return
            raise StalePlan(f"the plan went stale {MAX_PLANS} times")

        return run

    async def _once(self, event: Envelope[Any], body: Callable[[W], Awaitable[None]]) -> None:
        if str(event.id) in self._seen:
            raise AlreadyProcessed
        await self.uow.run(body)
        self._seen.add(str(event.id))
