"""The scheduled reconcile's progress and lease, on the fake and on the real server alike: one
holder at a time, a claim that fails once another replica has moved the progress on, only the
holder records or frees the run, and a dead holder's lease runs out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.billing_worker.reconcile_schedule import ReconcileRuns
from services.billing_worker.records import ReconcileReport, ReconcileState
from services.billing_worker.store import MongoReconcileRuns
from shared.mongo import Database
from tests.fakes.billing import FakeReconcileRuns

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=30)
REPORT = ReconcileReport(listed=5, already_received=4, fed=1)


@pytest.fixture(params=["fake", "mongo"])
def runs(request: pytest.FixtureRequest, db: Database) -> ReconcileRuns:
    if request.param == "fake":
        return FakeReconcileRuns()
    return MongoReconcileRuns(db)


async def test_one_holder_at_a_time_until_it_records_its_run(runs: ReconcileRuns) -> None:
    assert await runs.state() == ReconcileState()
    assert await runs.claim("a", covered_until=None, now=NOW, until=NOW + LEASE)
    later = NOW + timedelta(minutes=1)
    assert not await runs.claim("b", covered_until=None, now=later, until=later + LEASE)
    state = await runs.state()
    assert (state.holder, state.lease_until, state.covered_until) == ("a", NOW + LEASE, None)

    assert not await runs.succeeded("b", covered_until=NOW, finished_at=later, report=REPORT)
    assert await runs.succeeded("a", covered_until=NOW, finished_at=later, report=REPORT)
    assert await runs.state() == ReconcileState(
        covered_until=NOW, succeeded_at=later, holder=None, lease_until=later
    )


async def test_a_claim_made_on_a_stale_read_fails(runs: ReconcileRuns) -> None:
    assert await runs.claim("a", covered_until=None, now=NOW, until=NOW + LEASE)
    assert await runs.succeeded("a", covered_until=NOW, finished_at=NOW, report=REPORT)
    later = NOW + timedelta(days=1)
    # "b" read the state before "a" finished: its run would repeat "a"'s.
    assert not await runs.claim("b", covered_until=None, now=later, until=later + LEASE)
    assert await runs.claim("b", covered_until=NOW, now=later, until=later + LEASE)


async def test_a_failed_run_frees_the_lease_from_its_retry_time(runs: ReconcileRuns) -> None:
    assert await runs.claim("a", covered_until=None, now=NOW, until=NOW + LEASE)
    retry_at = NOW + timedelta(minutes=5)
    await runs.failed("b", retry_at=NOW, error="NotTheHolder")  # ignored
    assert (await runs.state()).holder == "a"
    await runs.failed("a", retry_at=retry_at, error="APIConnectionError")
    state = await runs.state()
    assert (state.holder, state.lease_until, state.covered_until) == (None, retry_at, None)
    early = retry_at - timedelta(seconds=1)
    assert not await runs.claim("b", covered_until=None, now=early, until=early + LEASE)
    assert await runs.claim("b", covered_until=None, now=retry_at, until=retry_at + LEASE)


async def test_a_dead_holders_lease_runs_out(runs: ReconcileRuns) -> None:
    assert await runs.claim("dead", covered_until=None, now=NOW, until=NOW + LEASE)
    expired = NOW + LEASE
    assert await runs.claim("b", covered_until=None, now=expired, until=expired + LEASE)
    assert not await runs.succeeded("dead", covered_until=NOW, finished_at=expired, report=REPORT)
    assert (await runs.state()).holder == "b"
