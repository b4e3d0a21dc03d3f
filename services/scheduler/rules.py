"""When a user should hear from us unprompted: pure functions of (state, now), no I/O.

Three kinds of proactive message share one gate — active, not opted out, with access, at most
one proactive message per 24 h, and only inside the recipient's local sending window — and are
tried in order of urgency: crisis follow-up, dormant reactivation, wellness check-in. Stages
advance by counters, never by calendar windows, so a scheduler that was down neither skips nor
repeats a stage; overdue crisis stages collapse into the latest one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from shared.proactive_policy import (
    CHURN_AFTER_LAST_REACTIVATION,
    CRISIS_FOLLOWUP_DAYS,
    PROACTIVE_GAP,
    REACTIVATION_SILENCE_DAYS,
    Cadence,
    in_window,
    next_window_moment,
)
from shared.proactive_policy import checkin_cadence as policy_cadence


class Kind(StrEnum):
    CRISIS_FOLLOWUP = "crisis_followup"
    REACTIVATION = "reactivation"
    CHECKIN = "checkin"


@dataclass(frozen=True)
class ProactiveState:
    """What the scheduler knows of one user (its read model, fed by events)."""

    user_id: str
    timezone: str
    journey_phase: str
    band: str | None = None
    last_contact_at: datetime | None = None
    last_crisis_event_at: datetime | None = None
    crisis_followup_count: int = 0
    reactivation_count: int = 0
    last_reactivation_at: datetime | None = None
    last_checkin_at: datetime | None = None
    last_proactive_at: datetime | None = None
    opted_out: bool = False
    has_access: bool = True
    checkin_preference: str | None = None
    snoozed_until: datetime | None = None


@dataclass(frozen=True)
class Decision:
    """One message to send now, and the stage it completes."""

    kind: Kind
    stage: int
    idempotency_key: str


@dataclass(frozen=True)
class Churn:
    """Stage 3 went unanswered for a day: the user is churned and hears nothing more."""


# --- the rules ----------------------------------------------------------------------------


def checkin_cadence(state: ProactiveState, now: datetime) -> Cadence | None:
    """The cadence of this user's check-ins (shared policy), or None."""
    return policy_cadence(state.band, state.last_crisis_event_at, state.checkin_preference, now)


def _crisis_stage_due(state: ProactiveState, now: datetime) -> int | None:
    """The latest due, unsent follow-up stage (1-based), or None."""
    if state.last_crisis_event_at is None or state.crisis_followup_count >= len(
        CRISIS_FOLLOWUP_DAYS
    ):
        return None
    due = [
        stage
        for stage, days in enumerate(CRISIS_FOLLOWUP_DAYS, start=1)
        if stage > state.crisis_followup_count
        and now >= state.last_crisis_event_at + timedelta(days=days)
    ]
    return due[-1] if due else None


def _reactivation_stage_due(state: ProactiveState, now: datetime) -> int | None:
    count = state.reactivation_count
    if state.last_contact_at is None or count >= len(REACTIVATION_SILENCE_DAYS):
        return None
    silence = now - state.last_contact_at
    return count + 1 if silence >= timedelta(days=REACTIVATION_SILENCE_DAYS[count]) else None


def _checkin_due(state: ProactiveState, now: datetime) -> bool:
    cadence = checkin_cadence(state, now)
    if cadence is None or (state.snoozed_until is not None and now < state.snoozed_until):
        return False
    if state.last_contact_at is not None and now - state.last_contact_at < cadence.recent_contact:
        return False
    return state.last_checkin_at is None or now - state.last_checkin_at >= cadence.every


def eligible(state: ProactiveState) -> bool:
    return state.journey_phase == "active" and not state.opted_out and state.has_access


def churn_due(state: ProactiveState, now: datetime) -> bool:
    return (
        state.journey_phase == "active"
        and state.reactivation_count >= len(REACTIVATION_SILENCE_DAYS)
        and state.last_reactivation_at is not None
        and now >= state.last_reactivation_at + CHURN_AFTER_LAST_REACTIVATION
        and (state.last_contact_at is None or state.last_contact_at < state.last_reactivation_at)
    )


def decide(state: ProactiveState, now: datetime) -> Decision | Churn | None:
    """What, if anything, to do for this user at `now`."""
    if churn_due(state, now):
        return Churn()
    if not eligible(state) or not in_window(now, state.timezone):
        return None
    if state.last_proactive_at is not None and now - state.last_proactive_at < PROACTIVE_GAP:
        return None
    stage = _crisis_stage_due(state, now)
    if stage is not None:
        assert state.last_crisis_event_at is not None
        crisis = state.last_crisis_event_at.strftime("%Y%m%dT%H%M%S")
        return Decision(
            Kind.CRISIS_FOLLOWUP, stage, _key(state, Kind.CRISIS_FOLLOWUP, f"{crisis}:{stage}")
        )
    stage = _reactivation_stage_due(state, now)
    if stage is not None:
        assert state.last_contact_at is not None
        silence = state.last_contact_at.strftime("%Y%m%dT%H%M%S")
        return Decision(
            Kind.REACTIVATION, stage, _key(state, Kind.REACTIVATION, f"{silence}:{stage}")
        )
    if _checkin_due(state, now):
        local_day = now.astimezone(ZoneInfo(state.timezone)).date().isoformat()
        return Decision(Kind.CHECKIN, 0, _key(state, Kind.CHECKIN, local_day))
    return None


def _key(state: ProactiveState, kind: Kind, stage_or_day: str) -> str:
    return f"proactive:{state.user_id}:{kind.value}:{stage_or_day}"


def next_due_at(state: ProactiveState, now: datetime) -> datetime | None:
    """The earliest moment any rule could fire (or churn apply), for the scheduler's index.

    Never earlier than needed, possibly early (the tick then re-evaluates and finds nothing);
    None when nothing can happen until new events arrive.
    """
    if state.journey_phase == "active" and state.reactivation_count >= len(
        REACTIVATION_SILENCE_DAYS
    ):
        if state.last_reactivation_at is None:
            return None
        return max(now, state.last_reactivation_at + CHURN_AFTER_LAST_REACTIVATION)
    if not eligible(state):
        return None
    moments: list[datetime] = []
    if state.last_crisis_event_at is not None and state.crisis_followup_count < len(
        CRISIS_FOLLOWUP_DAYS
    ):
        days = CRISIS_FOLLOWUP_DAYS[state.crisis_followup_count]
        moments.append(state.last_crisis_event_at + timedelta(days=days))
    if state.last_contact_at is not None and state.reactivation_count < len(
        REACTIVATION_SILENCE_DAYS
    ):
        days = REACTIVATION_SILENCE_DAYS[state.reactivation_count]
        moments.append(state.last_contact_at + timedelta(days=days))
    cadence = checkin_cadence(state, now)
    if cadence is not None:
        checkin = max(
            (state.last_checkin_at + cadence.every) if state.last_checkin_at else now,
            (state.last_contact_at + cadence.recent_contact) if state.last_contact_at else now,
            state.snoozed_until or now,
        )
        moments.append(checkin)
    if not moments:
        return None
    earliest = max(now, min(moments))
    if state.last_proactive_at is not None:
        earliest = max(earliest, state.last_proactive_at + PROACTIVE_GAP)
    return next_window_moment(earliest, state.timezone)
