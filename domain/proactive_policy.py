"""The proactive-message policy (docs/domain.md, "Proactive messages"), defined once.

The scheduler decides *when* a message is due from its read model; the SMS worker re-checks the
same premises against the live profile right before it texts. Both read the numbers and the
rules from here, so the two halves cannot drift apart. Pure functions, no I/O.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

# Crisis follow-up stages fall due this many days after the crisis (stage n = index n-1).
CRISIS_FOLLOWUP_DAYS: Final = (1, 3, 7, 14, 21, 28, 35)
# Reactivation stages fall due after this many days of silence.
REACTIVATION_SILENCE_DAYS: Final = (7, 14, 30)
CHURN_AFTER_LAST_REACTIVATION: Final = timedelta(days=1)
# At most one proactive message per user in this period.
PROACTIVE_GAP: Final = timedelta(hours=24)
# Proactive messages go out only inside the recipient's local [opens, closes).
WINDOW_OPENS: Final = time(9, 0)
WINDOW_CLOSES: Final = time(20, 0)
# A user in the crisis band gets daily check-ins this long after their last crisis.
CRISIS_DAILY_PERIOD: Final = timedelta(days=7)


class Cadence(StrEnum):
    """How often check-ins come, most frequent first."""

    DAILY = "daily"
    EVERY_3_DAYS = "every_3_days"
    WEEKLY = "weekly"

    @property
    def every(self) -> timedelta:
        return _EVERY[self]

    @property
    def recent_contact(self) -> timedelta:
        """A check-in is pointless if the user wrote within this long."""
        return _RECENT_CONTACT[self]


_EVERY: Final = {
    Cadence.DAILY: timedelta(days=1),
    Cadence.EVERY_3_DAYS: timedelta(days=3),
    Cadence.WEEKLY: timedelta(days=7),
}
_RECENT_CONTACT: Final = {
    Cadence.DAILY: timedelta(days=2),
    Cadence.EVERY_3_DAYS: timedelta(days=2),
    Cadence.WEEKLY: timedelta(days=3),
}


def checkin_cadence(
    band: str | None,
    last_crisis_event_at: datetime | None,
    preference: str | None,
    at: datetime,
) -> Cadence | None:
    """The band's cadence, or the user's DAILY/WEEKLY request when that is more frequent;
    None when neither asks for check-ins."""
    by_band: Cadence | None = None
    if band == "crisis":
        recent_crisis = (
            last_crisis_event_at is not None and at - last_crisis_event_at <= CRISIS_DAILY_PERIOD
        )
        by_band = Cadence.DAILY if recent_crisis else Cadence.WEEKLY
    elif band == "high":
        by_band = Cadence.EVERY_3_DAYS
    elif band == "moderate":
        by_band = Cadence.WEEKLY
    requested = {"daily": Cadence.DAILY, "weekly": Cadence.WEEKLY}.get(preference or "")
    candidates = [c for c in (by_band, requested) if c is not None]
    return min(candidates, key=lambda c: c.every) if candidates else None


def stage_delay(days: tuple[int, ...], stage: int) -> timedelta | None:
    """How long after its trigger a 1-based stage falls due (None: no such stage)."""
    return timedelta(days=days[stage - 1]) if 1 <= stage <= len(days) else None


def in_window(now: datetime, timezone: str) -> bool:
    local = now.astimezone(ZoneInfo(timezone)).time()
    return WINDOW_OPENS <= local < WINDOW_CLOSES


def window_start_on(day: date, timezone: str) -> datetime:
    return datetime.combine(day, WINDOW_OPENS, tzinfo=ZoneInfo(timezone))


def next_window_moment(moment: datetime, timezone: str) -> datetime:
    """`moment` if it is inside the window, else the next 09:00 local (DST-aware)."""
    zone = ZoneInfo(timezone)
    local = moment.astimezone(zone)
    if WINDOW_OPENS <= local.time() < WINDOW_CLOSES:
        return moment
    day = local.date() if local.time() < WINDOW_OPENS else local.date() + timedelta(days=1)
    return window_start_on(day, timezone).astimezone(moment.tzinfo)
