"""Missed Stripe webhooks are recovered without anyone having to remember: every
`BILLING_RECONCILE_INTERVAL_SECONDS` one replica runs `reconcile` over the time since the last
successful run, and every replica reports when that was.

Correctness does not rest on the lease: reconcile publishes exactly the envelope ingress would
have, so the inbox and `billing_events` drop whatever was already received, and a run repeated
by two replicas, or after a crash, changes nothing. The lease only keeps replicas from asking
Stripe the same question at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

import stripe
import structlog
from pymongo.errors import PyMongoError

from services.billing_worker.metrics import (
    RECONCILE_FED,
    RECONCILE_INTERVAL,
    RECONCILE_LAST_SUCCESS,
    RECONCILE_RUNS,
)
from services.billing_worker.reconcile import (
    STRIPE_EVENT_RETENTION,
    EventPublisher,
    RecordedEvents,
    reconcile,
)
from services.billing_worker.records import ReconcileReport, ReconcileState
from services.billing_worker.settings import BillingSettings
from services.billing_worker.store import MongoReconcileRuns, MongoStripeEvents
from services.billing_worker.stripe_client import stripe_client
from shared.broker import Publisher
from shared.clock import Clock
from shared.config import ConfigError, DeploymentSettings, StripeSettings
from shared.state_metrics import Probe
from shared.worker import WorkerRuntime

log = structlog.get_logger(__name__)

# A run that takes longer (or whose replica died) is taken over by another replica afterwards.
RECONCILE_LEASE: Final = timedelta(minutes=30)
# Each run lists from this long before the last successful run began: an event stamped just
# before that moment may only have become listable after it, and clocks differ.
WINDOW_OVERLAP: Final = timedelta(hours=1)
# Replicas look whether a run is due (and retry a failed one) at least this often.
_MAX_CHECK_SECONDS: Final = 300.0

Reconciler = Callable[[timedelta], Awaitable[ReconcileReport]]


class ReconcileRuns(Protocol):
    """`store.MongoReconcileRuns`: the progress and lease every replica shares."""

    async def state(self) -> ReconcileState: ...

    async def claim(
        self, holder: str, *, covered_until: datetime | None, now: datetime, until: datetime
    ) -> bool:
        """Hold the run until `until` if the lease is free at `now` and nobody finished a run
        since the caller read `covered_until`."""
        ...

    async def succeeded(
        self,
        holder: str,
        *,
        covered_until: datetime,
        finished_at: datetime,
        report: ReconcileReport,
    ) -> bool:
        """Record the run and free the lease; False if `holder` no longer held it."""
        ...

    async def failed(self, holder: str, *, retry_at: datetime, error: str) -> None:
        """Free the lease, for anyone, from `retry_at` on."""
        ...


def is_due(state: ReconcileState, now: datetime, interval: timedelta) -> bool:
    return state.covered_until is None or now >= state.covered_until + interval


def reconcile_window(
    covered_until: datetime | None, now: datetime, interval: timedelta
) -> timedelta:
    """How far back a run lists: since the last successful run began (a first run: one interval),
    plus the overlap, and never beyond the 30 days Stripe keeps events."""
    since = covered_until if covered_until is not None else now - interval
    return min(max(now - since, timedelta(0)) + WINDOW_OVERLAP, STRIPE_EVENT_RETENTION)


def stripe_reconciler(
    client: stripe.StripeClient, events: RecordedEvents, publisher: EventPublisher, clock: Clock
) -> Reconciler:
    """`reconcile` — the command's very code — over the window each run asks for."""

    async def reconcile_since(window: timedelta) -> ReconcileReport:
        return await reconcile(client, events, publisher, clock, since=window)

    return reconcile_since


class ScheduledReconcile:
    def __init__(
        self,
        runs: ReconcileRuns,
        reconcile_since: Reconciler,
        clock: Clock,
        *,
        holder: str,
        interval_seconds: float,
    ) -> None:
        self._runs = runs
        self._reconcile = reconcile_since
        self._clock = clock
        self._holder = holder
        self._interval = timedelta(seconds=interval_seconds)
        self.check_seconds = min(interval_seconds, _MAX_CHECK_SECONDS)
        RECONCILE_INTERVAL.set(interval_seconds)

    async def run_if_due(self) -> ReconcileReport | None:
        """Reconcile if an interval has passed since the last successful run and no other
        replica is at it; the report, or None when nothing ran (or the run failed)."""
        state = await self._runs.state()
        now = self._clock.now()
        if not is_due(state, now, self._interval):
            return None
        lease_until = now + RECONCILE_LEASE
        taken = await self._runs.claim(
            self._holder, covered_until=state.covered_until, now=now, until=lease_until
        )
        if not taken:
            return None
        window = reconcile_window(state.covered_until, now, self._interval)
        if state.covered_until is not None and now - state.covered_until >= STRIPE_EVENT_RETENTION:
            log.warning(
                "stripe reconcile last succeeded longer ago than Stripe keeps events; older "
                "missed events cannot be recovered",
                since_hours=round((now - state.covered_until).total_seconds() / 3600),
            )
        try:
            report = await self._reconcile(window)
        except Exception as error:  # Stripe, broker or database: the next check tries again
            RECONCILE_RUNS.labels("failed").inc()
            retry_at = now + timedelta(seconds=self.check_seconds)
            log.warning(
                "scheduled stripe reconcile failed; retrying",
                error=type(error).__name__,
                retry_in_seconds=self.check_seconds,
            )
            await self._runs.failed(self._holder, retry_at=retry_at, error=type(error).__name__)
            return None
        finished = self._clock.now()
        recorded = await self._runs.succeeded(
            self._holder, covered_until=now, finished_at=finished, report=report
        )
        if not recorded:
            log.warning("scheduled stripe reconcile outlived its lease; another replica took over")
        RECONCILE_RUNS.labels("ok").inc()
        RECONCILE_FED.inc(report.fed)
        RECONCILE_LAST_SUCCESS.set(finished.timestamp())
        return report

    async def refresh_metrics(self) -> None:
        """A state-metrics probe: whichever replica ran last, every one reports it."""
        succeeded = (await self._runs.state()).succeeded_at
        RECONCILE_LAST_SUCCESS.set(succeeded.timestamp() if succeeded is not None else 0)

    async def run(self, stop: asyncio.Event) -> None:
        """Check now, then every `check_seconds`, until `stop`."""
        while not stop.is_set():
            try:
                await self.run_if_due()
            except PyMongoError as error:
                log.warning(
                    "stripe reconcile schedule unreadable; retrying", error=type(error).__name__
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.check_seconds)


def scheduled_reconcile_client(
    billing: BillingSettings, stripe_settings: StripeSettings, deployment: DeploymentSettings
) -> stripe.StripeClient | None:
    """The Stripe client of the scheduled reconcile, or None when there is none: the interval is
    0, or in development there is no API key. Anywhere else a schedule without a key is refused
    at start, rather than a worker that silently never recovers a missed event."""
    if billing.reconcile_interval_seconds == 0:
        return None
    api_key = stripe_settings.api_key
    if api_key is None or not api_key.get_secret_value().strip():
        if deployment.development:
            return None
        raise ConfigError(
            "invalid configuration: STRIPE_API_KEY: required to reconcile missed Stripe events "
            "every BILLING_RECONCILE_INTERVAL_SECONDS; set BILLING_RECONCILE_INTERVAL_SECONDS=0 "
            "to run without (or GIVECARE_ENV=development)"
        )
    return stripe_client(stripe_settings, billing)


BackgroundLoop = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class ReconcileTasks:
    """What the worker runs beside its consumer for the schedule: none when it is off."""

    background: tuple[BackgroundLoop, ...] = ()
    probes: tuple[tuple[str, Probe], ...] = ()


@contextlib.asynccontextmanager
async def scheduled_reconcile(
    runtime: WorkerRuntime, client: stripe.StripeClient | None, *, interval_seconds: float
) -> AsyncIterator[ReconcileTasks]:
    """The schedule as the worker runs it (`client` from `scheduled_reconcile_client`): this
    process as the holder, a publisher of its own (closed on exit) for the events it feeds."""
    if client is None:
        if interval_seconds:
            log.warning("no STRIPE_API_KEY: missed Stripe events are not reconciled (development)")
        yield ReconcileTasks()
        return
    publisher = await Publisher.open(runtime.connection, runtime.broker_settings)
    schedule = ScheduledReconcile(
        MongoReconcileRuns(runtime.db),
        stripe_reconciler(client, MongoStripeEvents(runtime.db), publisher, runtime.clock),
        runtime.clock,
        holder=f"{socket.gethostname()}:{os.getpid()}",
        interval_seconds=interval_seconds,
    )
    try:
        yield ReconcileTasks((schedule.run,), (("billing_reconcile", schedule.refresh_metrics),))
    finally:
        await publisher.close()
