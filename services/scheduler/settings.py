"""Scheduler settings: how often it ticks, how much per tick, and the gates it applies."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SchedulerSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SCHEDULER_", env_file=".env", extra="ignore", frozen=True
    )

    tick_seconds: float = Field(60.0, gt=0)
    batch_size: int = Field(500, ge=1, le=100_000)
    # One replica ticks at a time; a crashed holder's lease runs out after this.
    lease_seconds: float = Field(120.0, gt=0)
