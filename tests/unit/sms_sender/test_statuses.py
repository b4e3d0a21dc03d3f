"""Status ordering: out-of-order callbacks never move a message backwards; finals stay final."""

from __future__ import annotations

import itertools

import pytest

from services.sms_worker.outbound import statuses


def test_lifecycle_moves_forward_only() -> None:
    path = [statuses.PENDING, statuses.SENDING, statuses.SENT, statuses.DELIVERED]
    for earlier, later in itertools.combinations(path, 2):
        assert statuses.advances(earlier, later)
        assert not statuses.advances(later, earlier)


_FINAL_PAIRS = list(itertools.permutations(sorted(statuses.FINAL), 2))


@pytest.mark.parametrize(("first", "second"), _FINAL_PAIRS)
def test_final_states_stay_final(first: str, second: str) -> None:
    assert not statuses.advances(first, second)


@pytest.mark.parametrize("status", statuses.STATUSES)
def test_below_lists_exactly_the_statuses_it_may_replace(status: str) -> None:
    assert set(statuses.below(status)) == {
        s for s in statuses.STATUSES if statuses.advances(s, status)
    }
    assert status not in statuses.below(status)


@pytest.mark.parametrize(
    ("twilio", "ours"),
    [
        ("accepted", statuses.SENT),
        ("scheduled", statuses.SENT),
        ("queued", statuses.SENT),
        ("sending", statuses.SENT),
        ("sent", statuses.SENT),
        ("Delivered", statuses.DELIVERED),
        ("read", statuses.DELIVERED),
        ("partially_delivered", statuses.DELIVERED),
        ("undelivered", statuses.UNDELIVERED),
        ("failed", statuses.FAILED),
        ("canceled", statuses.FAILED),
        ("received", None),
        ("receiving", None),
        ("nonsense", None),
    ],
)
def test_twilio_statuses_map_onto_ours(twilio: str, ours: str | None) -> None:
    assert statuses.from_twilio(twilio) == ours


def test_callbacks_in_any_order_end_in_the_furthest_state() -> None:
    arrivals = ["queued", "sent", "delivered"]
    for order in itertools.permutations(arrivals):
        current = statuses.SENDING
        for twilio in order:
            new = statuses.from_twilio(twilio)
            assert new is not None
            if statuses.advances(current, new):
                current = new
        assert current == statuses.DELIVERED
