"""The loop behind the database- and broker-backed gauges: every probe runs each round, and one
that fails (or hangs) is counted and logged without stopping the others or the loop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from shared.state_metrics import age_seconds, refresh_once, refresh_periodically


def _failures(probe: str) -> float:
    value = REGISTRY.get_sample_value(
        "givecare_state_metrics_refresh_failures_total", {"probe": probe}
    )
    return value or 0.0


async def test_a_failing_or_hanging_probe_is_counted_and_the_others_still_run() -> None:
    ran: list[str] = []

    async def fine() -> None:
        ran.append("fine")

    async def broken() -> None:
        raise ConnectionError("database away")

    async def hanging() -> None:
        await asyncio.Event().wait()

    before = _failures("test_broken"), _failures("test_hanging")
    await refresh_once(
        [("test_broken", broken), ("test_hanging", hanging), ("test_fine", fine)], timeout=0.05
    )
    assert ran == ["fine"]
    assert (_failures("test_broken"), _failures("test_hanging")) == (before[0] + 1, before[1] + 1)


async def test_the_loop_refreshes_until_stopped() -> None:
    rounds = 0
    stop = asyncio.Event()

    async def probe() -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 3:
            stop.set()

    await asyncio.wait_for(refresh_periodically([("test_loop", probe)], stop, 0.01), 5)
    assert rounds == 3


def test_age_is_never_negative_and_zero_for_nothing() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert age_seconds(None, now) == 0
    assert age_seconds(now + timedelta(seconds=5), now) == 0
    assert age_seconds(now - timedelta(minutes=2), now) == 120
