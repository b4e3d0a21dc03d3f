"""The proactive rules of docs/domain.md, boundary by boundary: gate, window, crisis follow-ups,
reactivation, churn, check-in cadences, and when each user is next worth looking at."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.proactive_policy import (
    CRISIS_FOLLOWUP_DAYS,
    Cadence,
    in_window,
    next_window_moment,
)
from services.scheduler.domain.rules import (
    Churn,
    Decision,
    Kind,
    checkin_cadence,
    decide,
    next_due_at,
)
from tests.unit.scheduler.users import DAY, NOON_NY, NY, active_user

DAILY, EVERY_THREE_DAYS, WEEKLY = Cadence.DAILY, Cadence.EVERY_3_DAYS, Cadence.WEEKLY

HONOLULU = "Pacific/Honolulu"
_user = active_user


# --- window -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("utc", "timezone", "inside"),
    [
        (datetime(2026, 1, 15, 13, 59, tzinfo=UTC), NY, False),  # 08:59 EST
        (datetime(2026, 1, 15, 14, 0, tzinfo=UTC), NY, True),  # 09:00 EST
        (datetime(2026, 1, 16, 0, 59, tzinfo=UTC), NY, True),  # 19:59 EST
        (datetime(2026, 1, 16, 1, 0, tzinfo=UTC), NY, False),  # 20:00 EST
        (datetime(2026, 7, 15, 13, 0, tzinfo=UTC), NY, True),  # 09:00 EDT (summer)
        (datetime(2026, 7, 15, 12, 59, tzinfo=UTC), NY, False),  # 08:59 EDT
        (datetime(2026, 1, 15, 19, 0, tzinfo=UTC), HONOLULU, True),  # 09:00 HST
        (datetime(2026, 1, 15, 18, 59, tzinfo=UTC), HONOLULU, False),
    ],
)
def test_sending_window_is_local_nine_to_eight(utc: datetime, timezone: str, inside: bool) -> None:
    assert in_window(utc, timezone) is inside


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        # 21:00 EST → next morning 09:00 EST
        (datetime(2026, 1, 16, 2, 0, tzinfo=UTC), datetime(2026, 1, 16, 14, 0, tzinfo=UTC)),
        # 07:00 EST → 09:00 the same day
        (datetime(2026, 1, 15, 12, 0, tzinfo=UTC), datetime(2026, 1, 15, 14, 0, tzinfo=UTC)),
        # Saturday 7 March 2026 22:00 EST → Sunday 09:00 EDT (DST began at 02:00): 13:00 UTC
        (datetime(2026, 3, 8, 3, 0, tzinfo=UTC), datetime(2026, 3, 8, 13, 0, tzinfo=UTC)),
        # Saturday 31 October 22:00 EDT → Sunday 09:00 EST (DST ended): 14:00 UTC
        (datetime(2026, 11, 1, 2, 0, tzinfo=UTC), datetime(2026, 11, 1, 14, 0, tzinfo=UTC)),
        # inside already: unchanged
        (NOON_NY, NOON_NY),
    ],
    ids=["evening", "early", "dst-spring", "dst-fall", "inside"],
)
def test_outside_the_window_defers_to_the_next_opening(utc: datetime, expected: datetime) -> None:
    assert next_window_moment(utc, NY) == expected


# --- the gate -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"journey_phase": "onboarding"},
        {"journey_phase": "churned"},
        {"opted_out": True},
        {"has_access": False},
        {"last_proactive_at": NOON_NY - timedelta(hours=23, minutes=59)},
    ],
    ids=["onboarding", "churned", "opted-out", "no-access", "within-24h"],
)
def test_gate_blocks_every_kind(changes: dict[str, object]) -> None:
    due_everything = _user(
        band="crisis",
        last_crisis_event_at=NOON_NY - 2 * DAY,
        last_contact_at=NOON_NY - 40 * DAY,
        **changes,
    )
    assert decide(due_everything, NOON_NY) is None


def test_gate_opens_exactly_24h_after_the_last_proactive_message() -> None:
    user = _user(last_crisis_event_at=NOON_NY - 2 * DAY, last_proactive_at=NOON_NY - DAY)
    assert isinstance(decide(user, NOON_NY), Decision)


def test_nothing_is_sent_at_night_even_when_due() -> None:
    night = datetime(2026, 1, 16, 4, 0, tzinfo=UTC)  # 23:00 EST
    user = _user(last_crisis_event_at=night - 2 * DAY)
    assert decide(user, night) is None
    assert next_due_at(user, night) == datetime(2026, 1, 16, 14, 0, tzinfo=UTC)


# --- crisis follow-ups --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed", "count", "stage"),
    [
        (timedelta(hours=23), 0, None),
        (DAY, 0, 1),
        (3 * DAY - timedelta(minutes=1), 1, None),
        (3 * DAY, 1, 2),
        (7 * DAY, 2, 3),
        (14 * DAY, 3, 4),
        (21 * DAY, 4, 5),
        (28 * DAY, 5, 6),
        (35 * DAY, 6, 7),
        (60 * DAY, 7, None),
        # catch-up: several overdue stages collapse into the latest due one
        (8 * DAY, 0, 3),
        (36 * DAY, 1, 7),
        # already sent this stage
        (4 * DAY, 2, None),
    ],
)
def test_crisis_followup_stages(elapsed: timedelta, count: int, stage: int | None) -> None:
    user = _user(
        band="thriving", last_crisis_event_at=NOON_NY - elapsed, crisis_followup_count=count
    )
    decision = decide(user, NOON_NY)
    if stage is None:
        assert decision is None or (
            isinstance(decision, Decision) and decision.kind != Kind.CRISIS_FOLLOWUP
        )
    else:
        assert isinstance(decision, Decision)
        assert (decision.kind, decision.stage) == (Kind.CRISIS_FOLLOWUP, stage)


def test_a_new_crisis_gets_new_keys_for_the_same_stages() -> None:
    first = _user(last_crisis_event_at=NOON_NY - DAY)
    second = replace(first, last_crisis_event_at=NOON_NY - DAY - timedelta(hours=1))
    one, two = decide(first, NOON_NY), decide(second, NOON_NY)
    assert isinstance(one, Decision)
    assert isinstance(two, Decision)
    assert one.stage == two.stage == 1
    assert one.idempotency_key != two.idempotency_key
    assert one.idempotency_key.startswith("proactive:u1:crisis_followup:")


def test_crisis_followup_comes_before_reactivation_and_checkin() -> None:
    user = _user(
        band="high",
        last_crisis_event_at=NOON_NY - 3 * DAY,
        crisis_followup_count=1,
        last_contact_at=NOON_NY - 10 * DAY,
    )
    decision = decide(user, NOON_NY)
    assert isinstance(decision, Decision)
    assert decision.kind == Kind.CRISIS_FOLLOWUP


# --- reactivation and churn ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("silence", "count", "stage"),
    [
        (7 * DAY - timedelta(minutes=1), 0, None),
        (7 * DAY, 0, 1),
        (13 * DAY, 1, None),
        (14 * DAY, 1, 2),
        (29 * DAY, 2, None),
        (30 * DAY, 2, 3),
        # stage-based: a long silence with count 0 still starts at stage 1
        (40 * DAY, 0, 1),
    ],
)
def test_reactivation_stages(silence: timedelta, count: int, stage: int | None) -> None:
    user = _user(band="thriving", last_contact_at=NOON_NY - silence, reactivation_count=count)
    decision = decide(user, NOON_NY)
    if stage is None:
        assert decision is None
    else:
        assert isinstance(decision, Decision)
        assert (decision.kind, decision.stage) == (Kind.REACTIVATION, stage)


def test_silence_a_day_after_stage_three_churns_and_a_reply_prevents_it() -> None:
    last = NOON_NY - DAY
    user = _user(
        last_contact_at=NOON_NY - 31 * DAY, reactivation_count=3, last_reactivation_at=last
    )
    assert isinstance(decide(user, NOON_NY), Churn)
    assert decide(user, NOON_NY - timedelta(minutes=1)) is None
    replied = replace(user, last_contact_at=last + timedelta(hours=2))
    assert not isinstance(decide(replied, NOON_NY), Churn)


# --- check-ins ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("band", "crisis_age", "preference", "cadence"),
    [
        ("crisis", 7 * DAY, None, DAILY),
        ("crisis", 7 * DAY + timedelta(seconds=1), None, WEEKLY),
        ("crisis", None, None, WEEKLY),
        ("high", None, None, EVERY_THREE_DAYS),
        ("moderate", None, None, WEEKLY),
        ("mild", None, None, None),
        ("thriving", None, None, None),
        (None, None, None, None),
        ("mild", None, "daily", DAILY),
        ("thriving", None, "weekly", WEEKLY),
        ("moderate", None, "daily", DAILY),
        ("high", None, "weekly", EVERY_THREE_DAYS),
    ],
)
def test_checkin_cadence_by_band_and_request(
    band: str | None, crisis_age: timedelta | None, preference: str | None, cadence: object
) -> None:
    user = _user(
        band=band,
        last_crisis_event_at=NOON_NY - crisis_age if crisis_age else None,
        checkin_preference=preference,
    )
    assert checkin_cadence(user, NOON_NY) == cadence


@pytest.mark.parametrize(
    ("band", "last_contact", "last_checkin", "due"),
    [
        ("high", 2 * DAY, None, True),
        ("high", 2 * DAY - timedelta(minutes=1), None, False),  # wrote recently
        ("high", 5 * DAY, 3 * DAY, True),
        ("high", 5 * DAY, 3 * DAY - timedelta(minutes=1), False),
        ("moderate", 3 * DAY, 7 * DAY, True),
        ("moderate", 3 * DAY - timedelta(minutes=1), 8 * DAY, False),
        ("moderate", 6 * DAY, 6 * DAY, False),
        ("mild", 6 * DAY, None, False),
    ],
)
def test_checkin_due(
    band: str, last_contact: timedelta, last_checkin: timedelta | None, due: bool
) -> None:
    user = _user(
        band=band,
        last_contact_at=NOON_NY - last_contact,
        last_checkin_at=NOON_NY - last_checkin if last_checkin else None,
    )
    decision = decide(user, NOON_NY)
    assert (isinstance(decision, Decision) and decision.kind == Kind.CHECKIN) is due


def test_pause_snoozes_checkins_but_not_crisis_followups() -> None:
    snoozed = _user(band="high", last_contact_at=NOON_NY - 3 * DAY, snoozed_until=NOON_NY + 6 * DAY)
    assert decide(snoozed, NOON_NY) is None
    # Check-ins wait for the snooze; reactivation (7 days of silence) does not.
    assert next_due_at(snoozed, NOON_NY) == NOON_NY + 4 * DAY
    assert next_due_at(replace(snoozed, last_contact_at=None), NOON_NY) == NOON_NY + 6 * DAY
    in_crisis = replace(snoozed, last_crisis_event_at=NOON_NY - DAY)
    decision = decide(in_crisis, NOON_NY)
    assert isinstance(decision, Decision)
    assert decision.kind == Kind.CRISIS_FOLLOWUP


def test_checkin_key_is_per_local_day() -> None:
    user = _user(band="high", last_contact_at=NOON_NY - 3 * DAY)
    decision = decide(user, NOON_NY)
    assert isinstance(decision, Decision)
    assert decision.idempotency_key == "proactive:u1:checkin:2026-01-15"


# --- next_due_at --------------------------------------------------------------------------


def test_next_due_is_the_earliest_rule_pushed_into_gap_and_window() -> None:
    crisis = NOON_NY - timedelta(hours=2)
    user = _user(band="thriving", last_crisis_event_at=crisis)
    assert next_due_at(user, NOON_NY) == crisis + DAY
    gapped = replace(user, last_proactive_at=NOON_NY)
    assert next_due_at(gapped, NOON_NY) == NOON_NY + DAY
    # due now, but the 24 h gap ends at 21:00 local → deferred to 09:00 the next morning
    evening = datetime(2026, 1, 15, 2, 0, tzinfo=UTC)
    late = replace(user, last_crisis_event_at=NOON_NY - 2 * DAY, last_proactive_at=evening)
    assert next_due_at(late, NOON_NY) == datetime(2026, 1, 16, 14, 0, tzinfo=UTC)


def test_nothing_to_do_means_no_due_time() -> None:
    quiet = _user(band="thriving", last_contact_at=None)
    assert next_due_at(quiet, NOON_NY) is None
    assert next_due_at(_user(opted_out=True), NOON_NY) is None


def test_next_due_never_misses_a_decision() -> None:
    """Walk hour by hour: whenever `decide` would act, `next_due_at` must not lie in the future."""
    user = _user(band="high", last_crisis_event_at=NOON_NY, last_contact_at=NOON_NY)
    moment = NOON_NY
    for hour in range(24 * 45):
        moment += timedelta(hours=1)
        if hour % (24 * 5) == 0:  # the user replies now and then, so they never churn
            user = replace(user, last_contact_at=moment, reactivation_count=0)
        decision = decide(user, moment)
        due = next_due_at(user, moment)
        if decision is not None:
            assert due is not None
            assert due <= moment
            if isinstance(decision, Decision):
                user = replace(
                    user,
                    last_proactive_at=moment,
                    crisis_followup_count=(
                        decision.stage
                        if decision.kind == Kind.CRISIS_FOLLOWUP
                        else user.crisis_followup_count
                    ),
                    reactivation_count=(
                        decision.stage
                        if decision.kind == Kind.REACTIVATION
                        else user.reactivation_count
                    ),
                    last_reactivation_at=(
                        moment if decision.kind == Kind.REACTIVATION else user.last_reactivation_at
                    ),
                    last_checkin_at=moment
                    if decision.kind == Kind.CHECKIN
                    else user.last_checkin_at,
                )
    assert user.crisis_followup_count == len(CRISIS_FOLLOWUP_DAYS)
