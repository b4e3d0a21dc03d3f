"""`scheduler_runs`: the fake and the real server agree on the tick log."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.scheduler.records import TickReport, TickRun
from tests.integration.scheduler.conftest import CONTRACT_NOW as NOW
from tests.integration.scheduler.conftest import Backend

pytestmark = pytest.mark.integration


async def test_the_latest_run_is_the_one_that_started_last(backend: Backend) -> None:
    runs = backend.store.runs
    assert await runs.latest() is None
    later = TickRun(NOW, "a", TickReport(due=5, sent=2, churned=1, skipped=1, lost_races=1))
    await runs.record(later)
    await runs.record(TickRun(NOW - timedelta(minutes=1), "b", TickReport(due=1)))
    assert await runs.latest() == later
    # Two that started at once: the one recorded last.
    again = TickRun(NOW, "b", TickReport())
    await runs.record(again)
    assert await runs.latest() == again
