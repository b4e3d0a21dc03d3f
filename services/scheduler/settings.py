"""Scheduler settings: how often it ticks, how much per tick, and the gates it applies; and the
development clock, which lets `make run` and the end-to-end tests see days ahead."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.clock import Clock, ShiftedClock


class SchedulerSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SCHEDULER_", env_file=".env", extra="ignore", frozen=True
    )

    tick_seconds: float = Field(60.0, gt=0)
    batch_size: int = Field(500, ge=1, le=100_000)
    # One replica ticks at a time; a crashed holder's lease runs out after this.
    lease_seconds: float = Field(120.0, gt=0)


class DevClockSettings(BaseSettings):
    """`SCHEDULER_DEV_CLOCK_START`: the scheduler's clock starts at this instant and runs at real
    speed from there, so check-ins, follow-ups and reactivations that are days away happen now.

    Development and tests only. It is read from the process environment alone — never from
    `.env`, so a developer's file cannot carry it anywhere — the deploy files must not set it
    (a unit test checks), and a scheduler running with it says so loudly at start-up.
    """

    # No env_file: see above.
    model_config = SettingsConfigDict(env_prefix="SCHEDULER_DEV_", extra="ignore", frozen=True)

    clock_start: datetime | None = None

    @field_validator("clock_start")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a UTC offset, e.g. 2030-01-05T12:00:00-05:00")
        return value

    def clock(self) -> Clock | None:
        """The shifted clock, or None for the system clock."""
        return ShiftedClock(self.clock_start) if self.clock_start is not None else None
