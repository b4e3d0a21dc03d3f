"""Gauges of state that lives in a database or in the broker — an outbox's backlog, queue depths,
open crisis alerts — refreshed by a background loop rather than at scrape time, so a scrape never
waits on MongoDB or RabbitMQ and a slow server cannot time Prometheus out.

A probe is an async function that reads the state and sets its gauges. A failing probe is logged
and counted (`givecare_state_metrics_refresh_failures_total`) and leaves its gauges at their
last value; the loop goes on. The values are the same whichever replica reports them, so the
alert rules aggregate them with `max`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Final, Protocol

import structlog
from pymongo import ASCENDING

from shared.clock import Clock
from shared.metrics import OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE, STATE_REFRESH_FAILURES
from shared.outbox import PENDING, OutboxCollection

log = structlog.get_logger(__name__)

Probe = Callable[[], Awaitable[None]]
REFRESH_SECONDS: Final = 15.0


def age_seconds(since: datetime | None, now: datetime) -> float:
    """Seconds from `since` to `now` (0 for None or a time in the future)."""
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0


async def refresh_once(probes: Sequence[tuple[str, Probe]], timeout: float) -> None:
    for name, probe in probes:
        try:
            await asyncio.wait_for(probe(), timeout)
        except Exception as error:  # any failure of one probe must not stop the rest
            STATE_REFRESH_FAILURES.labels(name).inc()
            log.warning("state metric refresh failed", probe=name, error=type(error).__name__)


async def refresh_periodically(
    probes: Sequence[tuple[str, Probe]],
    stop: asyncio.Event,
    interval_seconds: float = REFRESH_SECONDS,
) -> None:
    """Run every probe now and then every `interval_seconds` until `stop`."""
    while not stop.is_set():
        await refresh_once(probes, timeout=interval_seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_seconds)


class KeptEvents(Protocol):
    """Events a service keeps outside its outbox until published (`shared.row_outbox`)."""

    async def backlog(self) -> tuple[int, datetime | None]: ...


def outbox_backlog_probe(
    collection: OutboxCollection, clock: Clock, outbox: str, kept: Sequence[KeptEvents] = ()
) -> Probe:
    """Pending rows of one outbox and the age of the oldest (served by the outbox's
    `pending_by_lease` index: pending rows are few unless the relay is stuck), counting too the
    events the service keeps in its documents until published (`kept`, `shared.row_outbox`):
    they are the same promise, an event committed and not yet out."""

    async def probe() -> None:
        pending = {"status": PENDING}
        count = await collection.count_documents(pending)
        oldest = await collection.find_one(
            pending, {"created_at": 1}, sort=[("created_at", ASCENDING)]
        )
        created = oldest.get("created_at") if oldest is not None else None
        for events in kept:
            waiting, since = await events.backlog()
            count += waiting
            if since is not None and (created is None or since < created):
                created = since
        OUTBOX_BACKLOG.labels(outbox).set(count)
        OUTBOX_OLDEST_AGE.labels(outbox).set(age_seconds(created, clock.now()))

    return probe
