"""Time as a dependency: code that schedules, leases or retries asks a `Clock`, so tests move
time forward instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; for tests."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, instant: datetime) -> None:
        self._now = instant


class ShiftedClock:
    """Real time, moved: it reads `start` when created and runs at real speed from there.

    For development and end-to-end tests only (the scheduler's `SCHEDULER_DEV_CLOCK_START`):
    a running process can be shown "three days from now" without waiting three days.
    """

    def __init__(self, start: datetime, base: Clock | None = None) -> None:
        if start.tzinfo is None:
            raise ValueError("ShiftedClock needs a timezone-aware start")
        self._base = base or SystemClock()
        self.offset: timedelta = start - self._base.now()

    def now(self) -> datetime:
        return self._base.now() + self.offset
