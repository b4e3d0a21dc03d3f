"""Claiming a slot and giving it back when the SMS worker defers the message: a released claim
leaves the state as it was (so the rules decide the same message again, in the next window,
under a new key), and never undoes what arrived after the claim. Plus why a due user gets
nothing (the scheduler's `skipped` metric)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.proactive_policy import next_window_moment
from services.scheduler.domain.rules import (
    Churn,
    Decision,
    Kind,
    ProactiveState,
    Skip,
    claim,
    decide,
    evaluate,
    next_due_at,
    release,
)
from tests.unit.scheduler.users import DAY, NOON_NY, NY, active_user

# 20:30 in New York the same day: the window has closed.
EVENING_NY = datetime(2026, 1, 16, 1, 30, tzinfo=UTC)
_user = active_user


# Each kind of message, due at noon, after an earlier proactive message 3 days before.
DUE = {
    Kind.CRISIS_FOLLOWUP: _user(
        last_crisis_event_at=NOON_NY - 3 * DAY,
        crisis_followup_count=1,
        last_proactive_at=NOON_NY - 2 * DAY,
    ),
    Kind.REACTIVATION: _user(
        band="thriving",
        last_contact_at=NOON_NY - 15 * DAY,
        reactivation_count=1,
        last_reactivation_at=NOON_NY - 8 * DAY,
        last_proactive_at=NOON_NY - 8 * DAY,
    ),
    Kind.CHECKIN: _user(
        band="high",
        last_contact_at=NOON_NY - 4 * DAY,
        last_checkin_at=NOON_NY - 3 * DAY,
        last_proactive_at=NOON_NY - 3 * DAY,
    ),
}


def _decided(state: ProactiveState, at: datetime = NOON_NY) -> Decision:
    decision = decide(state, at)
    assert isinstance(decision, Decision), decision
    return decision


@pytest.mark.parametrize("kind", list(Kind))
def test_a_released_claim_gives_back_exactly_what_it_took(kind: Kind) -> None:
    before = DUE[kind]
    decision = _decided(before)
    assert decision.kind is kind
    after, taken = claim(before, decision, NOON_NY)
    assert after.last_proactive_at == NOON_NY
    assert decide(after, NOON_NY) is None  # the slot is taken

    released = release(after, taken)
    assert replace(released, deferred_key=None, deferrals=0) == before
    assert (released.deferred_key, released.deferrals) == (decision.base_key, 1)


@pytest.mark.parametrize("kind", list(Kind))
def test_a_deferred_message_is_decided_again_in_the_next_window_under_a_new_key(
    kind: Kind,
) -> None:
    """Claimed at 19:59, consumed at 20:30: released, it is due again at 09:00 the next day
    (the same message, unless that day brings a different one: a check-in's key is its day)."""
    last_minute = EVENING_NY - timedelta(minutes=31)  # 19:59 in New York
    first = _decided(DUE[kind], last_minute)
    after, taken = claim(DUE[kind], first, last_minute)
    released = release(after, taken)

    assert decide(released, EVENING_NY) is None  # the window is closed
    morning = next_window_moment(EVENING_NY, NY)
    assert next_due_at(released, EVENING_NY) == morning
    again = _decided(released, morning)
    assert again.kind is kind
    if kind is Kind.CHECKIN:
        assert again.base_key != first.base_key  # the next local day's check-in
        assert again.idempotency_key == again.base_key
    else:
        assert again.base_key == first.base_key
        assert again.idempotency_key == f"{first.base_key}:deferred:1"

    # Deferred once more: a third key for the same message.
    after_again, taken_again = claim(released, again, morning)
    twice = release(after_again, taken_again)
    third = _decided(twice, morning + timedelta(hours=1))
    if kind is not Kind.CHECKIN:
        assert third.idempotency_key == f"{first.base_key}:deferred:2"
    keys = {first.idempotency_key, again.idempotency_key, third.idempotency_key}
    assert len(keys) == 3


def test_a_newer_crisis_that_arrived_after_the_claim_is_kept() -> None:
    before = DUE[Kind.CRISIS_FOLLOWUP]
    after, taken = claim(before, _decided(before), NOON_NY)
    newer = replace(
        after, last_crisis_event_at=NOON_NY + timedelta(hours=1), crisis_followup_count=0
    )
    released = release(newer, taken)
    assert (released.last_crisis_event_at, released.crisis_followup_count) == (
        NOON_NY + timedelta(hours=1),
        0,
    )
    assert released.last_proactive_at == before.last_proactive_at  # the slot is given back


def test_a_reply_that_arrived_after_the_claim_is_kept() -> None:
    before = DUE[Kind.REACTIVATION]
    after, taken = claim(before, _decided(before), NOON_NY)
    replied = replace(after, last_contact_at=NOON_NY + timedelta(hours=1), reactivation_count=0)
    released = release(replied, taken)
    assert (released.reactivation_count, released.last_contact_at) == (
        0,
        NOON_NY + timedelta(hours=1),
    )


def test_a_newer_claim_is_never_undone() -> None:
    before = replace(DUE[Kind.CHECKIN], last_contact_at=NOON_NY - timedelta(days=2.5))
    after, taken = claim(before, _decided(before), NOON_NY)
    next_checkin = NOON_NY + 3 * DAY  # every 3 days in the high band
    decision = _decided(after, next_checkin)
    assert decision.kind is Kind.CHECKIN
    newer, _ = claim(after, decision, next_checkin)
    released = release(newer, taken)
    assert (released.last_proactive_at, released.last_checkin_at) == (next_checkin, next_checkin)


def test_a_deferred_third_reactivation_does_not_churn_the_user() -> None:
    """Stage 3 was never sent: released, it is sent again rather than counted towards churn."""
    before = replace(
        DUE[Kind.REACTIVATION],
        last_contact_at=NOON_NY - 31 * DAY,
        reactivation_count=2,
        last_reactivation_at=NOON_NY - 10 * DAY,
        last_proactive_at=NOON_NY - 10 * DAY,
    )
    decision = _decided(before)
    assert (decision.kind, decision.stage) == (Kind.REACTIVATION, 3)
    after, taken = claim(before, decision, NOON_NY)
    assert isinstance(decide(after, NOON_NY + 2 * DAY), Churn)
    released = release(after, taken)
    later = _decided(released, NOON_NY + DAY)
    assert (later.kind, later.stage) == (Kind.REACTIVATION, 3)


@given(
    crisis_days=st.integers(0, 40),
    stage=st.integers(0, 7),
    silence_days=st.integers(0, 40),
    reactivations=st.integers(0, 3),
    band=st.sampled_from(["crisis", "high", "moderate", "mild", "thriving", None]),
    hours=st.integers(0, 23),
)
def test_claim_then_release_is_the_identity_on_the_rules_fields(
    crisis_days: int,
    stage: int,
    silence_days: int,
    reactivations: int,
    band: str | None,
    hours: int,
) -> None:
    now = NOON_NY - timedelta(hours=3) + timedelta(hours=hours)
    state = _user(
        band=band,
        last_crisis_event_at=now - timedelta(days=crisis_days) if crisis_days else None,
        crisis_followup_count=stage,
        last_contact_at=now - timedelta(days=silence_days),
        reactivation_count=reactivations,
        last_reactivation_at=now - 2 * DAY if reactivations else None,
    )
    decision = decide(state, now)
    if not isinstance(decision, Decision):
        return
    after, taken = claim(state, decision, now)
    released = release(after, taken)
    assert replace(released, deferred_key=None, deferrals=0) == state
    assert decide(released, now) == replace(decision, deferrals=1)


SKIPS = [
    ("onboarding", {"journey_phase": "onboarding"}, NOON_NY, Skip.NOT_ACTIVE),
    ("opted out", {"opted_out": True}, NOON_NY, Skip.OPTED_OUT),
    ("no access", {"has_access": False}, NOON_NY, Skip.NO_ACCESS),
    ("evening", {"last_crisis_event_at": NOON_NY - 2 * DAY}, EVENING_NY, Skip.OUTSIDE_WINDOW),
    ("24 h gap", {"last_crisis_event_at": NOON_NY - 2 * DAY,
     "last_proactive_at": NOON_NY - timedelta(hours=23)}, NOON_NY, Skip.GAP),
    ("nothing due", {}, NOON_NY, Skip.NOTHING_DUE),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "at", "expected"), [c[1:] for c in SKIPS], ids=[c[0] for c in SKIPS]
)
def test_why_a_due_user_gets_nothing(
    changes: dict[str, object], at: datetime, expected: Skip
) -> None:
    state = _user(**changes)
    assert evaluate(state, at) == expected
    assert decide(state, at) is None
