"""`python -m services.scheduler`: the read-model consumer and the tick loop in one process."""

from __future__ import annotations

import asyncio
import os
import socket

from services.scheduler.handlers import SchedulerHandlers
from services.scheduler.settings import SchedulerSettings
from services.scheduler.state import PROACTIVE_STATE, SCHEDULER_INDEXES, ProactiveStateStore
from services.scheduler.tick import Scheduler
from shared.config import SubscriptionSettings, load_settings
from shared.events.catalog import (
    BillingAccessChanged,
    CrisisDetected,
    SmsOptOutChanged,
    UserProfileChanged,
)
from shared.mongo import ensure_indexes
from shared.worker import WorkerRuntime

QUEUE = "scheduler.events"


async def main() -> None:
    settings = load_settings(SchedulerSettings)
    # With subscriptions on, proactive messages need billing access (billing.access.changed).
    subscriptions_enabled = load_settings(SubscriptionSettings).enabled
    async with WorkerRuntime.open("scheduler") as runtime:
        await ensure_indexes(runtime.db, SCHEDULER_INDEXES)
        store = ProactiveStateStore(
            runtime.db[PROACTIVE_STATE], subscriptions_enabled=subscriptions_enabled
        )
        handlers = SchedulerHandlers(store, runtime.clock)
        inbox = runtime.inbox(QUEUE)
        consumer = runtime.consumer(QUEUE)
        consumer.handle(UserProfileChanged, inbox.idempotent(handlers.profile_changed))
        consumer.handle(CrisisDetected, inbox.idempotent(handlers.crisis_detected))
        consumer.handle(SmsOptOutChanged, inbox.idempotent(handlers.opt_out_changed))
        consumer.handle(BillingAccessChanged, inbox.idempotent(handlers.access_changed))
        scheduler = Scheduler(
            runtime.db,
            runtime.outbox,
            runtime.clock,
            holder=f"{socket.gethostname()}:{os.getpid()}",
            batch_size=settings.batch_size,
            lease_seconds=settings.lease_seconds,
            subscriptions_enabled=subscriptions_enabled,
            transactions_with=runtime.client if runtime.transactions else None,
        )

        async def tick_loop(stop: asyncio.Event) -> None:
            await scheduler.run(stop, settings.tick_seconds)

        await runtime.run([consumer], background=[tick_loop])


if __name__ == "__main__":
    asyncio.run(main())
