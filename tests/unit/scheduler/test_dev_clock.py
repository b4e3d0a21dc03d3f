"""The scheduler's development clock: a shifted clock that runs at real speed, read from the
process environment only (never `.env`), refused without a UTC offset, and set by no deploy file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.scheduler.settings import DevClockSettings
from shared.clock import ManualClock, ShiftedClock
from shared.config import ConfigError, load_settings

DEPLOY = Path(__file__).parents[3] / "deploy"
START = datetime(2030, 1, 5, 17, 0, tzinfo=UTC)


def test_a_shifted_clock_starts_elsewhere_and_runs_at_real_speed() -> None:
    real = ManualClock(datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    clock = ShiftedClock(START, base=real)
    assert clock.now() == START
    real.advance(timedelta(minutes=90))
    assert clock.now() == START + timedelta(minutes=90)


def test_a_shifted_clock_needs_an_aware_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ShiftedClock(datetime(2030, 1, 5, 12, 0))


def test_unset_means_the_system_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCHEDULER_DEV_CLOCK_START", raising=False)
    assert load_settings(DevClockSettings).clock() is None


def test_the_environment_sets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULER_DEV_CLOCK_START", "2030-01-05T12:00:00-05:00")
    clock = load_settings(DevClockSettings).clock()
    assert isinstance(clock, ShiftedClock)
    assert abs(clock.now() - START) < timedelta(minutes=5)


def test_a_dotenv_file_cannot_set_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SCHEDULER_DEV_CLOCK_START", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SCHEDULER_DEV_CLOCK_START=2030-01-05T12:00:00Z\n")
    assert load_settings(DevClockSettings).clock() is None


def test_a_start_without_offset_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCHEDULER_DEV_CLOCK_START", "2030-01-05T12:00:00")
    with pytest.raises(ConfigError, match="SCHEDULER_DEV_CLOCK_START"):
        load_settings(DevClockSettings)


def test_no_deploy_file_sets_it() -> None:
    files = [path for path in DEPLOY.rglob("*") if path.is_file()]
    assert files
    assert [
        str(path) for path in files if "SCHEDULER_DEV_" in path.read_text(errors="replace")
    ] == []
