"""An active New York user at a winter noon, as the scheduler's rule tests start from."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.scheduler.domain.rules import ProactiveState

NY = "America/New_York"
# 17:00 UTC = 12:00 in New York (EST): inside the window.
NOON_NY = datetime(2026, 1, 15, 17, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def active_user(**changes: object) -> ProactiveState:
    base = ProactiveState(
        user_id="u1",
        timezone=NY,
        journey_phase="active",
        band="mild",
        last_contact_at=NOON_NY - timedelta(hours=1),
    )
    return replace(base, **changes)  # type: ignore[arg-type]
