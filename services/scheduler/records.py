"""What the scheduler's repositories take and return: pure dataclasses, no I/O.

A `ProactiveRecord` is one user's read model: the facts the rules read (`rules.ProactiveState`,
with access as billing reported it) plus what orders the events that feed it (versions and
timestamps) and what keeps the tick's writes honest (`revision`, the latest claim).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.scheduler.domain.rules import Claim, ProactiveState, next_due_at

# The rules need a timezone; a user the scheduler has only heard of by phone has none yet.
DEFAULT_TIMEZONE = "America/New_York"
# The journey phase of a placeholder: never due, so the tick never sees it.
UNKNOWN_PHASE = "unknown"


@dataclass(frozen=True)
class LatestClaim:
    """The latest message the tick claimed for the user, and whether a deferral gave it back."""

    taken: Claim
    released_at: datetime | None = None
    deferral_reason: str | None = None


@dataclass(frozen=True)
class ProactiveRecord:
    """One user's `proactive_state` document."""

    state: ProactiveState
    phone: str
    # Raised by every write that changes a fact; a save is a compare-and-set on it. 0: the
    # record was never saved (or was saved before revisions existed).
    revision: int = 0
    # The earliest moment any rule could fire; the tick's due scan reads it.
    next_due_at: datetime | None = None
    profile_version: int = 0
    opt_out_changed_at: datetime | None = None
    # None: billing never reported access for this phone.
    access_changed_at: datetime | None = None
    claim: LatestClaim | None = None
    churned_at: datetime | None = None

    @property
    def user_id(self) -> str:
        return self.state.user_id

    @classmethod
    def placeholder(cls, phone: str) -> ProactiveRecord:
        """A user known only by phone (an opt-out or access change that arrived before the
        profile); the profile later takes over what it holds."""
        state = ProactiveState(
            user_id=placeholder_id(phone),
            timezone=DEFAULT_TIMEZONE,
            journey_phase=UNKNOWN_PHASE,
            has_access=False,
        )
        return cls(state=state, phone=phone)

    def facts(self, *, subscriptions_enabled: bool) -> ProactiveState:
        """The state as the rules judge it: with subscriptions off, everyone has access."""
        return self.state if subscriptions_enabled else replace(self.state, has_access=True)

    def rescheduled(self, now: datetime, *, subscriptions_enabled: bool) -> ProactiveRecord:
        """This record with `next_due_at` computed from its facts, as every save of a changed
        fact writes it (so it is never older than the facts)."""
        facts = self.facts(subscriptions_enabled=subscriptions_enabled)
        return replace(self, next_due_at=next_due_at(facts, now))

    def with_state(self, **changes: Any) -> ProactiveRecord:
        """This record with some of the rules' facts changed."""
        return replace(self, state=replace(self.state, **changes))


def placeholder_id(phone: str) -> str:
    return f"phone:{phone}"


@dataclass
class TickReport:
    """What one tick did, counted as it goes."""

    due: int = 0
    sent: int = 0
    churned: int = 0
    skipped: int = 0
    lost_races: int = 0


@dataclass(frozen=True)
class TickRun:
    """One tick that held the lease, as `scheduler_runs` keeps it (14 days)."""

    started_at: datetime
    holder: str
    report: TickReport
