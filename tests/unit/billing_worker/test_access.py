"""The access rule and the ordering rules, every status and every case: who may use GiveCare,
and which of two subscription changes wins when Stripe delivers them out of order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.billing_worker.domain.access import (
    ACCESS_STATUSES,
    NO_ACCESS_STATUSES,
    AppliedSubscription,
    RefetchPolicy,
    SubscriptionState,
    Verdict,
    has_access,
    needs_refetch,
    subscription_verdict,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PAST = NOW - timedelta(seconds=1)
FUTURE = NOW + timedelta(seconds=1)
PERIOD_ENDS = [None, PAST, NOW, FUTURE]
STRIPE_STATUSES = sorted(ACCESS_STATUSES | NO_ACCESS_STATUSES | {"canceled"})


def test_the_status_lists_cover_every_stripe_subscription_status() -> None:
    assert STRIPE_STATUSES == [
        "active",
        "canceled",
        "incomplete",
        "incomplete_expired",
        "past_due",
        "paused",
        "trialing",
        "unpaid",
    ]


@pytest.mark.parametrize("period_end", PERIOD_ENDS)
@pytest.mark.parametrize("status", ["trialing", "active", "past_due"])
def test_trialing_active_and_past_due_have_access_whatever_the_period(
    status: str, period_end: datetime | None
) -> None:
    assert has_access(status, period_end, NOW)


@pytest.mark.parametrize("period_end", PERIOD_ENDS)
@pytest.mark.parametrize("status", ["unpaid", "incomplete", "incomplete_expired", "paused"])
def test_unpaid_incomplete_and_paused_have_no_access_whatever_the_period(
    status: str, period_end: datetime | None
) -> None:
    assert not has_access(status, period_end, NOW)


@pytest.mark.parametrize(
    ("period_end", "expected"),
    [(None, False), (PAST, False), (NOW, False), (FUTURE, True)],
    ids=["no-period", "ended", "ends-now", "still-paid"],
)
def test_canceled_keeps_access_until_the_paid_period_ends(
    period_end: datetime | None, expected: bool
) -> None:
    assert has_access("canceled", period_end, NOW) is expected


@pytest.mark.parametrize("status", [None, "", "some_future_status", "ACTIVE"])
def test_unknown_or_missing_status_denies_access(status: str | None) -> None:
    assert not has_access(status, FUTURE, NOW)


def _state(
    subscription_id: str, status: str, period_end: datetime | None = FUTURE
) -> SubscriptionState:
    return SubscriptionState(subscription_id, "cus_1", status, current_period_end=period_end)


def test_first_change_for_an_account_always_applies() -> None:
    assert subscription_verdict(None, _state("sub_1", "unpaid"), PAST, NOW) is Verdict.APPLY


@pytest.mark.parametrize(
    ("observed_at", "expected"),
    [(PAST, Verdict.STALE), (NOW, Verdict.APPLY), (FUTURE, Verdict.APPLY)],
    ids=["older", "tie", "newer"],
)
def test_same_subscription_applies_unless_older(observed_at: datetime, expected: Verdict) -> None:
    current = AppliedSubscription("sub_1", NOW, has_access=True)
    assert subscription_verdict(current, _state("sub_1", "past_due"), observed_at, NOW) is expected


@pytest.mark.parametrize(
    ("current_access", "incoming_status", "observed_at", "expected"),
    [
        # A new paid subscription replaces the old one.
        (True, "active", FUTURE, Verdict.APPLY),
        (False, "active", FUTURE, Verdict.APPLY),
        # A newer, not (yet) paid subscription replaces only one that gives no access either.
        (True, "incomplete", FUTURE, Verdict.OTHER_SUBSCRIPTION),
        (False, "incomplete", FUTURE, Verdict.APPLY),
        # The old subscription's deletion arriving after the switch changes nothing.
        (True, "canceled", FUTURE, Verdict.OTHER_SUBSCRIPTION),
        # Anything older about another subscription is history.
        (False, "active", PAST, Verdict.OTHER_SUBSCRIPTION),
        (True, "active", PAST, Verdict.OTHER_SUBSCRIPTION),
    ],
)
def test_another_subscription_replaces_the_current_one_only_when_it_should(
    current_access: bool, incoming_status: str, observed_at: datetime, expected: Verdict
) -> None:
    current = AppliedSubscription("sub_old", NOW, has_access=current_access)
    incoming = _state("sub_new", incoming_status, period_end=PAST)
    assert subscription_verdict(current, incoming, observed_at, NOW) is expected


_instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)


@given(applied_at=_instants, observed_at=_instants, status=st.sampled_from(STRIPE_STATUSES))
def test_same_subscription_verdict_is_exactly_the_time_order(
    applied_at: datetime, observed_at: datetime, status: str
) -> None:
    current = AppliedSubscription("sub_1", applied_at, has_access=False)
    verdict = subscription_verdict(current, _state("sub_1", status), observed_at, NOW)
    assert (verdict is Verdict.APPLY) == (observed_at >= applied_at)
    assert verdict is not Verdict.OTHER_SUBSCRIPTION


@given(
    events=st.lists(st.tuples(_instants, st.sampled_from(STRIPE_STATUSES)), min_size=1, max_size=8),
    seed=st.randoms(),
)
def test_any_delivery_order_ends_in_the_newest_state(
    events: list[tuple[datetime, str]], seed: random.Random
) -> None:
    """Applying whatever the verdict allows, in any order, leaves the newest event's status
    (on ties, one of the tied ones: Stripe gives no order to tell them apart)."""
    shuffled = events[:]
    seed.shuffle(shuffled)
    current: AppliedSubscription | None = None
    status = None
    for observed_at, incoming in shuffled:
        state = _state("sub_1", incoming)
        if subscription_verdict(current, state, observed_at, NOW) is Verdict.APPLY:
            current = AppliedSubscription("sub_1", observed_at, state.has_access(NOW))
            status = incoming
    newest = max(at for at, _ in events)
    assert current is not None
    assert current.applied_at == newest
    assert status in {s for at, s in events if at == newest}


@pytest.mark.parametrize(
    ("policy", "status_known", "applied_at", "expected"),
    [
        ("off", False, NOW, False),
        ("off", True, NOW, False),
        ("always", True, None, True),
        ("always", True, PAST, True),
        ("uncertain", False, None, True),
        ("uncertain", True, None, False),
        ("uncertain", True, PAST, False),
        ("uncertain", True, NOW, True),
        ("uncertain", True, FUTURE, False),
    ],
)
def test_refetch_only_when_the_policy_and_the_doubt_say_so(
    policy: RefetchPolicy, status_known: bool, applied_at: datetime | None, expected: bool
) -> None:
    decision = needs_refetch(
        policy, status_known=status_known, event_created=NOW, applied_at=applied_at
    )
    assert decision is expected
