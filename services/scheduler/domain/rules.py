"""When a user should hear from us unprompted: pure functions of (state, now), no I/O.

Three kinds of proactive message share one gate — active, not opted out, with access, at most
one proactive message per 24 h, and only inside the recipient's local sending window — and are
tried in order of urgency: crisis follow-up, dormant reactivation, wellness check-in. Stages
advance by counters, never by calendar windows, so a scheduler that was down neither skips nor
repeats a stage; overdue crisis stages collapse into the latest one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from domain.proactive_policy import (
    CHURN_AFTER_LAST_REACTIVATION,
    CRISIS_FOLLOWUP_DAYS,
    PROACTIVE_GAP,
    REACTIVATION_SILENCE_DAYS,
    Cadence,
    in_window,
    next_window_moment,
)
from domain.proactive_policy import checkin_cadence as policy_cadence


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
    # The message the SMS worker last deferred (its key without a deferral suffix) and how often
    # it was: the next decision of the same message gets a new key, `<key>:deferred:<n>`.
    deferred_key: str | None = None
    deferrals: int = 0


@dataclass(frozen=True)
class Decision:
    """One message to send now, and the stage it completes."""

    kind: Kind
    stage: int
    # The message's identity: the crisis or silence it belongs to and its stage, or the day.
    base_key: str
    # How often this same message was deferred before (0: the first time it is decided).
    deferrals: int = 0

    @property
    def idempotency_key(self) -> str:
        if self.deferrals == 0:
            return self.base_key
        return f"{self.base_key}:deferred:{self.deferrals}"


class Skip(StrEnum):
    """Why a user who came due gets nothing this tick (the first that applies)."""

    NOT_ACTIVE = "not_active"
    OPTED_OUT = "opted_out"
    NO_ACCESS = "no_access"
    OUTSIDE_WINDOW = "outside_window"
    # Within 24 h of the last proactive message.
    GAP = "gap"
    # `next_due_at` is allowed to be early: nothing is due yet.
    NOTHING_DUE = "nothing_due"


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


def evaluate(state: ProactiveState, now: datetime) -> Decision | Churn | Skip:
    """What to do for this user at `now`, or why nothing."""
    if churn_due(state, now):
        return Churn()
    if state.journey_phase != "active":
        return Skip.NOT_ACTIVE
    if state.opted_out:
        return Skip.OPTED_OUT
    if not state.has_access:
        return Skip.NO_ACCESS
    if not in_window(now, state.timezone):
        return Skip.OUTSIDE_WINDOW
    if state.last_proactive_at is not None and now - state.last_proactive_at < PROACTIVE_GAP:
        return Skip.GAP
    stage = _crisis_stage_due(state, now)
    if stage is not None:
        assert state.last_crisis_event_at is not None
        crisis = state.last_crisis_event_at.strftime("%Y%m%dT%H%M%S")
        return _decision(state, Kind.CRISIS_FOLLOWUP, stage, f"{crisis}:{stage}")
    stage = _reactivation_stage_due(state, now)
    if stage is not None:
        assert state.last_contact_at is not None
        silence = state.last_contact_at.strftime("%Y%m%dT%H%M%S")
        return _decision(state, Kind.REACTIVATION, stage, f"{silence}:{stage}")
    if _checkin_due(state, now):
        local_day = now.astimezone(ZoneInfo(state.timezone)).date().isoformat()
        return _decision(state, Kind.CHECKIN, 0, local_day)
    return Skip.NOTHING_DUE


def decide(state: ProactiveState, now: datetime) -> Decision | Churn | None:
    """What, if anything, to do for this user at `now`."""
    outcome = evaluate(state, now)
    return None if isinstance(outcome, Skip) else outcome


def _decision(state: ProactiveState, kind: Kind, stage: int, stage_or_day: str) -> Decision:
    key = f"proactive:{state.user_id}:{kind.value}:{stage_or_day}"
    return Decision(kind, stage, key, state.deferrals if state.deferred_key == key else 0)


# --- claiming a slot, and giving it back -------------------------------------------------------


@dataclass(frozen=True)
class Counters:
    """The fields a claim advances, as they were before it."""

    last_proactive_at: datetime | None
    crisis_followup_count: int
    reactivation_count: int
    last_reactivation_at: datetime | None
    last_checkin_at: datetime | None

    @classmethod
    def of(cls, state: ProactiveState) -> Counters:
        return cls(
            state.last_proactive_at,
            state.crisis_followup_count,
            state.reactivation_count,
            state.last_reactivation_at,
            state.last_checkin_at,
        )


@dataclass(frozen=True)
class Claim:
    """A message the scheduler emitted and the slot and stage it took for it, kept on the read
    model until a newer claim replaces it, so a message the SMS worker could not send can give
    them back."""

    key: str
    base_key: str
    kind: Kind
    stage: int
    at: datetime
    # The crisis a follow-up stage belongs to.
    crisis_at: datetime | None
    before: Counters


def claim(state: ProactiveState, decision: Decision, now: datetime) -> tuple[ProactiveState, Claim]:
    """The state once `decision` is emitted at `now` (the 24 h slot taken, its stage advanced),
    and the claim that remembers what it took."""
    taken = Claim(
        key=decision.idempotency_key,
        base_key=decision.base_key,
        kind=decision.kind,
        stage=decision.stage,
        at=now,
        crisis_at=state.last_crisis_event_at,
        before=Counters.of(state),
    )
    if decision.kind is Kind.CRISIS_FOLLOWUP:
        after = replace(state, crisis_followup_count=decision.stage)
    elif decision.kind is Kind.REACTIVATION:
        after = replace(state, reactivation_count=decision.stage, last_reactivation_at=now)
    else:
        after = replace(state, last_checkin_at=now)
    return replace(after, last_proactive_at=now), taken


def release(state: ProactiveState, taken: Claim) -> ProactiveState:
    """`state` with what `taken` advanced given back, since its message was never sent: the
    rules then decide again (in the next window) under a new key. A field is given back only
    while it still holds what the claim wrote — a newer crisis, a reply or a newer claim that
    moved it since is kept."""
    deferrals = state.deferrals if state.deferred_key == taken.base_key else 0
    after = replace(state, deferred_key=taken.base_key, deferrals=deferrals + 1)
    before = taken.before
    if state.last_proactive_at == taken.at:
        after = replace(after, last_proactive_at=before.last_proactive_at)
    if taken.kind is Kind.CRISIS_FOLLOWUP:
        if (
            state.last_crisis_event_at == taken.crisis_at
            and state.crisis_followup_count == taken.stage
        ):
            after = replace(after, crisis_followup_count=before.crisis_followup_count)
    elif taken.kind is Kind.REACTIVATION:
        if state.reactivation_count == taken.stage and state.last_reactivation_at == taken.at:
            after = replace(
                after,
                reactivation_count=before.reactivation_count,
                last_reactivation_at=before.last_reactivation_at,
            )
    elif state.last_checkin_at == taken.at:
        after = replace(after, last_checkin_at=before.last_checkin_at)
    return after


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
