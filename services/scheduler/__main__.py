"""`python -m services.scheduler`: the read-model consumer and the tick loop in one process."""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import structlog

from services.queues import CONSUMER_QUEUES
from services.scheduler.handlers import SchedulerHandlers
from services.scheduler.queues import EVENTS
from services.scheduler.repositories import SCHEDULER_INDEXES, MongoProactiveStates
from services.scheduler.settings import DevClockSettings, SchedulerSettings
from services.scheduler.tick import Scheduler
from services.scheduler.unit_of_work import MongoSchedulerStore, scheduler_work
from shared.clock import ShiftedClock
from shared.config import ConfigError, SubscriptionSettings, load_settings
from shared.events.catalog import (
    BillingAccessChanged,
    CrisisDetected,
    ProactiveMessageDeferred,
    SmsOptOutChanged,
    UserProfileChanged,
)
from shared.inbox import replay_safe
from shared.mongo import ensure_indexes
from shared.worker import WorkerRuntime

log = structlog.get_logger(__name__)


async def serve(settings: SchedulerSettings, dev_clock: DevClockSettings) -> None:
    # With subscriptions on, proactive messages need billing access (billing.access.changed).
    subscriptions_enabled = load_settings(SubscriptionSettings).enabled
    clock = dev_clock.clock()
    async with WorkerRuntime.open("scheduler", queues=CONSUMER_QUEUES, clock=clock) as runtime:
        if isinstance(clock, ShiftedClock):
            log.warning(
                "DEVELOPMENT CLOCK: scheduler time is shifted (SCHEDULER_DEV_CLOCK_START); "
                "never run this in production",
                clock_start=dev_clock.clock_start,
                shifted_by_seconds=round(clock.offset.total_seconds()),
            )
        await ensure_indexes(runtime.db, SCHEDULER_INDEXES)
        transactions = runtime.transactions(scheduler_work(runtime.db))
        handlers = SchedulerHandlers(runtime.clock, subscriptions_enabled=subscriptions_enabled)
        inbox = runtime.inbox(EVENTS.name, transactions)
        consumer = runtime.consumer(EVENTS)
        consumer.handle(
            UserProfileChanged,
            replay_safe(
                handlers.profile_snapshots(
                    MongoProactiveStates(runtime.db, None),
                    inbox.idempotent(handlers.profile_changed),
                )
            ),
        )
        consumer.handle(CrisisDetected, inbox.idempotent(handlers.crisis_detected))
        consumer.handle(SmsOptOutChanged, inbox.idempotent(handlers.opt_out_changed))
        consumer.handle(BillingAccessChanged, inbox.idempotent(handlers.access_changed))
        consumer.handle(
            ProactiveMessageDeferred,
            handlers.counted_deferrals(inbox.idempotent(handlers.proactive_deferred)),
        )
        scheduler = Scheduler(
            MongoSchedulerStore(runtime.db),
            transactions,
            runtime.clock,
            holder=f"{socket.gethostname()}:{os.getpid()}",
            batch_size=settings.batch_size,
            lease_seconds=settings.lease_seconds,
            subscriptions_enabled=subscriptions_enabled,
        )

        async def tick_loop(stop: asyncio.Event) -> None:
            await scheduler.run(stop, settings.tick_seconds)

        await runtime.run([consumer], background=[tick_loop])


def main() -> int:
    try:
        settings = load_settings(SchedulerSettings)
        dev_clock = load_settings(DevClockSettings)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    asyncio.run(serve(settings, dev_clock))
    return 0


if __name__ == "__main__":
    sys.exit(main())
