"""The scheduled reconcile against the in-memory schedule and a scripted reconcile: one run per
interval over the time since the last successful one, one replica at a time, failures retried
at the next check, a dead holder taken over after its lease, the window bounded by Stripe's
retention, the metrics every replica reports — and the start-up refusal of a schedule that
cannot run. The same runs through the broker, the database and the fake Stripe API are in
tests/integration/billing_worker/test_reconcile_schedule.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from services.billing_worker import __main__ as billing_main
from services.billing_worker.reconcile_schedule import (
    RECONCILE_LEASE,
    WINDOW_OVERLAP,
    ScheduledReconcile,
    scheduled_reconcile_client,
)
from services.billing_worker.records import ReconcileReport, ReconcileState
from services.billing_worker.settings import BillingSettings
from shared.clock import ManualClock
from shared.config import ConfigError, DeploymentSettings, StripeSettings
from tests.fakes.billing import FakeReconcileRuns

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
REPORT = ReconcileReport(listed=3, already_received=2, fed=1)


class ScriptedReconcile:
    """Records each window asked for; answers with `REPORT`, or raises what `fail` holds."""

    def __init__(self) -> None:
        self.windows: list[timedelta] = []
        self.fail: Exception | None = None
        self.hold: asyncio.Event | None = None
        self.asked = asyncio.Event()

    async def __call__(self, window: timedelta) -> ReconcileReport:
        self.windows.append(window)
        self.asked.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.fail is not None:
            raise self.fail
        return REPORT


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def runs() -> FakeReconcileRuns:
    return FakeReconcileRuns()


@pytest.fixture
def reconcile() -> ScriptedReconcile:
    return ScriptedReconcile()


async def test_a_first_run_covers_one_interval_and_records_how_far_it_got(
    runs: FakeReconcileRuns, reconcile: ScriptedReconcile, clock: ManualClock
) -> None:
    schedule = ScheduledReconcile(runs, reconcile, clock, holder="a", interval_seconds=86_400)
    assert await schedule.run_if_due() == REPORT
    assert reconcile.windows == [DAY + WINDOW_OVERLAP]
    assert runs.row == ReconcileState(covered_until=NOW, succeeded_at=NOW, lease_until=NOW)
    assert runs.reports == [REPORT]


async def test_the_next_run_waits_an_interval_and_covers_the_time_since_the_last(
    runs: FakeReconcileRuns, reconcile: ScriptedReconcile, clock: ManualClock
) -> None:
    schedule = ScheduledReconcile(runs, reconcile, clock, holder="a", interval_seconds=86_400)
    await schedule.run_if_due()
    clock.advance(DAY - timedelta(minutes=1))
    assert await schedule.run_if_due() is None
    clock.advance(timedelta(minutes=6))  # the check five minutes later finds it due
    assert await schedule.run_if_due() == REPORT
    assert reconcile.windows == [DAY + WINDOW_OVERLAP, DAY + timedelta(minutes=5) + WINDOW_OVERLAP]
    assert runs.row.covered_until == clock.now()
    assert schedule.check_seconds == 300


async def test_while_one_replica_runs_another_does_not_and_then_finds_it_done(
    runs: FakeReconcileRuns, clock: ManualClock
) -> None:
    slow, other = ScriptedReconcile(), ScriptedReconcile()
    slow.hold = asyncio.Event()
    first = ScheduledReconcile(runs, slow, clock, holder="a", interval_seconds=86_400)
    second = ScheduledReconcile(runs, other, clock, holder="b", interval_seconds=86_400)
    running = asyncio.create_task(first.run_if_due())
    await asyncio.sleep(0)
    assert runs.row.holder == "a"
    clock.advance(timedelta(minutes=5))
    assert await second.run_if_due() is None  # the lease is held
    slow.hold.set()
    assert await running == REPORT
    assert await second.run_if_due() is None  # done for this interval
    assert other.windows == []


async def test_a_replica_that_read_before_another_finished_does_not_run_again(
    runs: FakeReconcileRuns, reconcile: ScriptedReconcile, clock: ManualClock
) -> None:
    """The claim is conditional on the progress the replica read, not only on the lease."""
    stale = await runs.state()
    await ScheduledReconcile(runs, reconcile, clock, holder="a", interval_seconds=60).run_if_due()
    clock.advance(timedelta(seconds=1))
    until = clock.now() + RECONCILE_LEASE
    assert not await runs.claim(
        "b", covered_until=stale.covered_until, now=clock.now(), until=until
    )


async def test_a_failed_run_is_counted_and_retried_at_the_next_check_over_the_same_span(
    runs: FakeReconcileRuns, reconcile: ScriptedReconcile, clock: ManualClock
) -> None:
    schedule = ScheduledReconcile(runs, reconcile, clock, holder="a", interval_seconds=86_400)
    await schedule.run_if_due()
    clock.advance(DAY)
    failed_before = _sample("givecare_billing_reconcile_runs_total", outcome="failed")
    reconcile.fail = TimeoutError("Stripe did not answer")
    assert await schedule.run_if_due() is None
    assert _sample("givecare_billing_reconcile_runs_total", outcome="failed") == failed_before + 1
    assert runs.row.covered_until == NOW  # not moved on
    assert runs.row.holder is None
    other = ScheduledReconcile(runs, reconcile, clock, holder="b", interval_seconds=86_400)
    assert await other.run_if_due() is None  # no replica retries before the next check
    reconcile.fail = None
    clock.advance(timedelta(seconds=schedule.check_seconds))
    assert await other.run_if_due() == REPORT
    assert reconcile.windows[-1] == DAY + timedelta(minutes=5) + WINDOW_OVERLAP
    assert runs.row.covered_until == clock.now()


async def test_a_holder_that_died_is_taken_over_once_its_lease_runs_out(
    runs: FakeReconcileRuns, reconcile: ScriptedReconcile, clock: ManualClock
) -> None:
    assert await runs.claim("dead", covered_until=None, now=NOW, until=NOW + RECONCILE_LEASE)
    schedule = ScheduledReconcile(runs, reconcile, clock, holder="a", interval_seconds=86_400)
    clock.advance(RECONCILE_LEASE - timedelta(seconds=1))
    assert await schedule.run_if_due() is None
    clock.advance(timedelta(seconds=1))
    assert await schedule.run_if_due() == REPORT
    # A holder that wakes up after the takeover cannot overwrite the newer record.
    late = await runs.succeeded("dead", covered_until=NOW, finished_at=clock.now(), report=REPORT)
    assert not late
    assert runs.row.covered_until == clock.now()


async def test_after_a_long_outage_the_window_stops_at_what_stripe_keeps(
    runs: FakeReconcileRuns, reconcile: ScriptedReconcile, clock: ManualClock
) -> None:
    runs.row = ReconcileState(covered_until=NOW - timedelta(days=40), lease_until=NOW)
    schedule = ScheduledReconcile(runs, reconcile, clock, holder="a", interval_seconds=86_400)
    assert await schedule.run_if_due() == REPORT
    assert reconcile.windows == [timedelta(days=30)]


async def test_every_replica_reports_the_last_success_and_its_interval(
    runs: FakeReconcileRuns, reconcile: ScriptedReconcile, clock: ManualClock
) -> None:
    fed_before = _sample("givecare_billing_reconcile_events_fed_total")
    ran = ScheduledReconcile(runs, reconcile, clock, holder="a", interval_seconds=86_400)
    await ran.run_if_due()
    assert _sample("givecare_billing_reconcile_events_fed_total") == fed_before + REPORT.fed
    idle = ScheduledReconcile(runs, reconcile, clock, holder="b", interval_seconds=3_600)
    assert _sample("givecare_billing_reconcile_interval_seconds") == 3_600
    await idle.refresh_metrics()
    last = "givecare_billing_reconcile_last_success_timestamp_seconds"
    assert _sample(last) == NOW.timestamp()
    await ScheduledReconcile(
        FakeReconcileRuns(), reconcile, clock, holder="c", interval_seconds=60
    ).refresh_metrics()
    assert _sample(last) == 0  # never succeeded


async def test_the_loop_checks_at_once_and_stops_when_told(
    runs: FakeReconcileRuns, reconcile: ScriptedReconcile, clock: ManualClock
) -> None:
    schedule = ScheduledReconcile(runs, reconcile, clock, holder="a", interval_seconds=86_400)
    stop = asyncio.Event()
    loop = asyncio.create_task(schedule.run(stop))
    await asyncio.wait_for(reconcile.asked.wait(), 5)
    stop.set()
    await asyncio.wait_for(loop, 5)
    assert runs.reports == [REPORT]


# -- start-up: a schedule that cannot run is refused, outside development ------------------------

PRODUCTION = DeploymentSettings(env="production")
DEVELOPMENT = DeploymentSettings(env="development")


def test_a_key_gives_the_schedule_its_client_and_interval_zero_turns_it_off() -> None:
    keyed = StripeSettings(api_key="sk_test_schedule")
    assert scheduled_reconcile_client(BillingSettings(), keyed, PRODUCTION) is not None
    off = BillingSettings(reconcile_interval_seconds=0)
    assert scheduled_reconcile_client(off, StripeSettings(), PRODUCTION) is None
    assert BillingSettings().reconcile_interval_seconds == 86_400  # daily unless said


def test_without_a_key_development_runs_without_the_schedule_and_production_refuses() -> None:
    assert scheduled_reconcile_client(BillingSettings(), StripeSettings(), DEVELOPMENT) is None
    with pytest.raises(ConfigError) as refused:
        scheduled_reconcile_client(BillingSettings(), StripeSettings(api_key=" "), PRODUCTION)
    assert "STRIPE_API_KEY" in str(refused.value)
    assert "BILLING_RECONCILE_INTERVAL_SECONDS=0" in str(refused.value)


def test_the_worker_exits_at_start_naming_the_missing_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m services.billing_worker` in production without STRIPE_API_KEY: exit 2 before
    it connects to the broker or the database."""
    monkeypatch.chdir(tmp_path)  # no developer's .env
    for name in ("STRIPE_API_KEY", "GIVECARE_ENV", "BILLING_RECONCILE_INTERVAL_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPS_STARTUP_WAIT_SECONDS", "0")
    monkeypatch.setenv("RABBITMQ_URL", "amqp://nobody:secret-password@127.0.0.1:1/")
    assert billing_main.main([]) == 2
    error = capsys.readouterr().err
    assert "STRIPE_API_KEY" in error
    assert "secret-password" not in error
