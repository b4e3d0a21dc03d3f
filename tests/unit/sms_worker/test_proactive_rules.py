"""The re-check before a proactive message goes out, table-driven over every reason and boundary,
and what sending or churning changes on the profile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.proactive_policy import Cadence, checkin_cadence
from services.sms_worker.domain.assessments import Band
from services.sms_worker.domain.proactive import (
    ChurnOutcome,
    Deferral,
    Due,
    ProactiveKind,
    Suppression,
    churn,
    deferral,
    record_sent,
    suppression,
)
from services.sms_worker.domain.profile import Profile

DUE_AT = datetime(2026, 3, 20, 15, 0, tzinfo=UTC)
MAX_DELAY = timedelta(hours=24)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


def _profile(**fields: Any) -> Profile:
    defaults: dict[str, Any] = {
        "user_id": "u1",
        "timezone": "America/New_York",
        "journey_phase": "active",
        "first_name": "Ana",
        "last_contact_at": DUE_AT - 60 * DAY,
    }
    return Profile(**{**defaults, **fields})


def _due(kind: ProactiveKind, stage: int = 0) -> Due:
    return Due(kind, stage, DUE_AT)


def _check(
    profile: Profile | None, due: Due, *, has_access: bool | None, now: datetime = DUE_AT
) -> Suppression | None:
    return suppression(profile, due, now=now, max_delay=MAX_DELAY, has_access=has_access)


def _later(due: Due, now: datetime, timezone: str = "America/New_York") -> Deferral | None:
    return deferral(due, now=now, max_delay=MAX_DELAY, timezone=timezone)


COMMON_GATE = [
    ("no profile", None, None, Suppression.UNKNOWN_USER),
    ("opted out", _profile(sms_opt_out=True), None, Suppression.OPTED_OUT),
    ("opted out and churned", _profile(sms_opt_out=True, journey_phase="churned"), None,
     Suppression.OPTED_OUT),
    ("churned", _profile(journey_phase="churned"), None, Suppression.NOT_ACTIVE),
    ("onboarding", _profile(journey_phase="onboarding"), None, Suppression.NOT_ACTIVE),
    ("gate on, no access", _profile(), False, Suppression.NO_ACCESS),
    ("gate on, access", _profile(), True, None),
    ("gate off", _profile(), None, None),
]  # fmt: skip


@pytest.mark.parametrize("kind", ["crisis_followup", "reactivation"])
@pytest.mark.parametrize(
    ("profile", "has_access", "expected"),
    [case[1:] for case in COMMON_GATE],
    ids=[case[0] for case in COMMON_GATE],
)
def test_common_gate(
    kind: ProactiveKind,
    profile: Profile | None,
    has_access: bool | None,
    expected: Suppression | None,
) -> None:
    assert _check(profile, _due(kind, 1), has_access=has_access) == expected


CADENCES = [
    ("crisis band, crisis 7 days ago", {"burnout_band": Band.CRISIS,
     "last_crisis_event_at": DUE_AT - 7 * DAY}, Cadence.DAILY),
    ("crisis band, crisis 7 days + 1 s ago", {"burnout_band": Band.CRISIS,
     "last_crisis_event_at": DUE_AT - 7 * DAY - SECOND}, Cadence.WEEKLY),
    ("crisis band, no crisis event", {"burnout_band": Band.CRISIS}, Cadence.WEEKLY),
    ("high", {"burnout_band": Band.HIGH}, Cadence.EVERY_3_DAYS),
    ("moderate", {"burnout_band": Band.MODERATE}, Cadence.WEEKLY),
    ("mild", {"burnout_band": Band.MILD}, None),
    ("thriving", {"burnout_band": Band.THRIVING}, None),
    ("no band", {}, None),
    ("mild, asked weekly", {"burnout_band": Band.MILD, "checkin_preference": "weekly"},
     Cadence.WEEKLY),
    ("thriving, asked daily", {"burnout_band": Band.THRIVING, "checkin_preference": "daily"},
     Cadence.DAILY),
    ("moderate, asked daily", {"burnout_band": Band.MODERATE, "checkin_preference": "daily"},
     Cadence.DAILY),
    ("high, asked weekly: the band is more frequent", {"burnout_band": Band.HIGH,
     "checkin_preference": "weekly"}, Cadence.EVERY_3_DAYS),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "expected"), [c[1:] for c in CADENCES], ids=[c[0] for c in CADENCES]
)
def test_checkin_cadence(fields: dict[str, Any], expected: Cadence | None) -> None:
    profile = _profile(**fields)
    band = profile.burnout_band.value if profile.burnout_band else None
    cadence = checkin_cadence(
        band, profile.last_crisis_event_at, profile.checkin_preference, DUE_AT
    )
    assert cadence == expected


CHECKINS = [
    # (case, profile fields, expected)
    ("high, silent", {"burnout_band": Band.HIGH}, None),
    ("high, wrote exactly 2 days before", {"burnout_band": Band.HIGH,
     "last_contact_at": DUE_AT - 2 * DAY}, None),
    ("high, wrote 2 days - 1 s before", {"burnout_band": Band.HIGH,
     "last_contact_at": DUE_AT - 2 * DAY + SECOND}, Suppression.RECENT_CONTACT),
    ("high, wrote after it fell due", {"burnout_band": Band.HIGH,
     "last_contact_at": DUE_AT + SECOND}, Suppression.RECENT_CONTACT),
    ("moderate, wrote exactly 3 days before", {"burnout_band": Band.MODERATE,
     "last_contact_at": DUE_AT - 3 * DAY}, None),
    ("moderate, wrote 3 days - 1 s before", {"burnout_band": Band.MODERATE,
     "last_contact_at": DUE_AT - 3 * DAY + SECOND}, Suppression.RECENT_CONTACT),
    ("crisis band, recent crisis, wrote 2 days + 1 s before", {"burnout_band": Band.CRISIS,
     "last_crisis_event_at": DUE_AT - 3 * DAY, "last_contact_at": DUE_AT - 2 * DAY - SECOND},
     None),
    ("crisis band, old crisis, wrote 2 days + 1 s before", {"burnout_band": Band.CRISIS,
     "last_crisis_event_at": DUE_AT - 20 * DAY, "last_contact_at": DUE_AT - 2 * DAY - SECOND},
     Suppression.RECENT_CONTACT),
    ("mild, asked daily, wrote 1 day before", {"burnout_band": Band.MILD,
     "checkin_preference": "daily", "last_contact_at": DUE_AT - DAY}, Suppression.RECENT_CONTACT),
    ("mild, no request", {"burnout_band": Band.MILD}, Suppression.CHECKINS_OFF),
    ("no contact ever", {"burnout_band": Band.HIGH, "last_contact_at": None}, None),
    ("paused until after it fell due", {"burnout_band": Band.HIGH,
     "snooze_until": DUE_AT + SECOND}, Suppression.SNOOZED),
    ("pause ended when it fell due", {"burnout_band": Band.HIGH, "snooze_until": DUE_AT}, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "expected"), [c[1:] for c in CHECKINS], ids=[c[0] for c in CHECKINS]
)
def test_checkin(fields: dict[str, Any], expected: Suppression | None) -> None:
    profile = _profile(**fields)
    assert _check(profile, _due("checkin"), has_access=None) == expected


@pytest.mark.parametrize(("stage", "silence_days"), [(1, 7), (2, 14), (3, 30)])
def test_reactivation_needs_the_stages_silence(stage: int, silence_days: int) -> None:
    silence = timedelta(days=silence_days)
    due = _due("reactivation", stage)
    silent = _profile(last_contact_at=DUE_AT - silence)
    wrote = _profile(last_contact_at=DUE_AT - silence + SECOND)
    assert _check(silent, due, has_access=None) is None
    assert _check(wrote, due, has_access=None) == Suppression.RECENT_CONTACT


@pytest.mark.parametrize(
    ("stage", "days"), [(1, 1), (2, 3), (3, 7), (4, 14), (5, 21), (6, 28), (7, 35)]
)
def test_crisis_followup_belongs_to_the_latest_crisis(stage: int, days: int) -> None:
    due = _due("crisis_followup", stage)
    this_crisis = _profile(last_crisis_event_at=DUE_AT - timedelta(days=days))
    newer_crisis = _profile(last_crisis_event_at=DUE_AT - timedelta(days=days) + SECOND)
    assert _check(this_crisis, due, has_access=None) is None
    assert _check(newer_crisis, due, has_access=None) == Suppression.NEWER_CRISIS


def test_crisis_followup_goes_out_though_the_user_just_wrote() -> None:
    profile = _profile(last_crisis_event_at=DUE_AT - 3 * DAY, last_contact_at=DUE_AT - SECOND)
    assert _check(profile, _due("crisis_followup", 2), has_access=None) is None


def test_crisis_followup_without_a_crisis_on_the_profile_is_sent() -> None:
    assert _check(_profile(), _due("crisis_followup", 1), has_access=None) is None


@pytest.mark.parametrize("kind", ["crisis_followup", "reactivation", "checkin"])
def test_consumed_outside_the_window_or_too_late_is_deferred_not_dropped(
    kind: ProactiveKind,
) -> None:
    profile = _profile(burnout_band=Band.HIGH, last_crisis_event_at=DUE_AT - 3 * DAY)
    due = _due(kind, 2 if kind != "checkin" else 0)
    # Time is never a reason to drop a message whose premises hold: that is the deferral's.
    for now in (DUE_AT, DUE_AT + timedelta(hours=9), DUE_AT + MAX_DELAY + SECOND):
        assert _check(profile, due, has_access=None, now=now) is None
    # DUE_AT is 11:00 in New York; 19:59 is the window's last minute, 20:00 is outside.
    assert _later(due, DUE_AT + timedelta(hours=8, minutes=59)) is None
    assert _later(due, DUE_AT + timedelta(hours=9)) == Deferral.OUTSIDE_WINDOW
    next_morning = DUE_AT + 23 * timedelta(hours=1)  # 10:00 the next day: in window, in time
    assert _later(due, next_morning) is None
    assert _later(due, DUE_AT + MAX_DELAY) is None
    assert _later(due, DUE_AT + MAX_DELAY + SECOND) == Deferral.LATE


def test_a_message_that_must_not_go_out_is_suppressed_whatever_the_time() -> None:
    """The premises come first: an opted-out user's late message is suppressed, not deferred."""
    due = _due("crisis_followup", 1)
    too_late = DUE_AT + MAX_DELAY + SECOND
    assert _check(_profile(sms_opt_out=True), due, has_access=None, now=too_late) == (
        Suppression.OPTED_OUT
    )
    wrote = _profile(burnout_band=Band.HIGH, last_contact_at=DUE_AT + SECOND)
    assert _check(wrote, _due("checkin"), has_access=None, now=too_late) == (
        Suppression.RECENT_CONTACT
    )


def test_a_due_time_ahead_of_this_clock_is_judged_at_the_due_time() -> None:
    """The scheduler's clock may run ahead (skew, SCHEDULER_DEV_CLOCK_START): 11:00 due, seen
    at 23:00 the night before by this clock, is inside the window it was chosen for."""
    night_before = DUE_AT - timedelta(hours=12)
    assert _later(_due("checkin", 0), night_before) is None


def test_the_window_is_the_recipients_local_one() -> None:
    # 11:00 in New York is 05:00 in Honolulu.
    due = _due("crisis_followup", 1)
    assert _later(due, DUE_AT, "America/New_York") is None
    assert _later(due, DUE_AT, "Pacific/Honolulu") == Deferral.OUTSIDE_WINDOW


def test_sending_records_the_time_and_advances_only_its_own_counter() -> None:
    profile = _profile(crisis_followup_count=2, reactivation_message_count=1)
    at = DUE_AT + SECOND
    crisis = record_sent(profile, _due("crisis_followup", 5), at)
    assert (crisis.crisis_followup_count, crisis.reactivation_message_count) == (5, 1)
    reactivation = record_sent(profile, _due("reactivation", 2), at)
    assert (reactivation.crisis_followup_count, reactivation.reactivation_message_count) == (2, 2)
    checkin = record_sent(profile, _due("checkin"), at)
    assert (checkin.crisis_followup_count, checkin.reactivation_message_count) == (2, 1)
    for after in (crisis, reactivation, checkin):
        assert after.last_proactive_message_at == at
        assert after.version == profile.version


def test_stage_counters_never_go_back() -> None:
    profile = _profile(crisis_followup_count=4, reactivation_message_count=3)
    assert record_sent(profile, _due("crisis_followup", 2), DUE_AT).crisis_followup_count == 4
    assert record_sent(profile, _due("reactivation", 1), DUE_AT).reactivation_message_count == 3


CHURNS = [
    ("silent since the last message", {"last_proactive_message_at": DUE_AT,
     "last_contact_at": DUE_AT - 30 * DAY}, ChurnOutcome.CHURNED),
    ("no proactive message recorded", {}, ChurnOutcome.CHURNED),
    ("wrote at the same instant", {"last_proactive_message_at": DUE_AT,
     "last_contact_at": DUE_AT}, ChurnOutcome.CHURNED),
    ("wrote after the last message", {"last_proactive_message_at": DUE_AT,
     "last_contact_at": DUE_AT + SECOND}, ChurnOutcome.REPLIED),
    ("already churned", {"journey_phase": "churned"}, ChurnOutcome.ALREADY_CHURNED),
    ("still onboarding", {"journey_phase": "onboarding"}, ChurnOutcome.NOT_ACTIVE),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "expected"), [c[1:] for c in CHURNS], ids=[c[0] for c in CHURNS]
)
def test_churn_applies_only_to_a_still_silent_active_user(
    fields: dict[str, Any], expected: ChurnOutcome
) -> None:
    assert churn(_profile(**fields)) == expected
