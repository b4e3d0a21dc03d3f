"""Status ordering: out-of-order callbacks never move a message backwards; finals stay final."""

from __future__ import annotations

import itertools

import pytest

from domain import send_status
from services.sms_sender.domain import twilio_statuses


def test_lifecycle_moves_forward_only() -> None:
    path = [send_status.PENDING, send_status.SENDING, send_status.SENT, send_status.DELIVERED]
    for earlier, later in itertools.combinations(path, 2):
        assert send_status.advances(earlier, later)
        assert not send_status.advances(later, earlier)


_FINAL_PAIRS = list(itertools.permutations(sorted(send_status.FINAL), 2))


@pytest.mark.parametrize(("first", "second"), _FINAL_PAIRS)
def test_final_states_stay_final(first: str, second: str) -> None:
    assert not send_status.advances(first, second)


@pytest.mark.parametrize("status", send_status.STATUSES)
def test_below_lists_exactly_the_statuses_it_may_replace(status: str) -> None:
    assert set(send_status.below(status)) == {
        s for s in send_status.STATUSES if send_status.advances(s, status)
    }
    assert status not in send_status.below(status)


@pytest.mark.parametrize(
    ("twilio", "ours"),
    [
        ("accepted", send_status.SENT),
        ("scheduled", send_status.SENT),
        ("queued", send_status.SENT),
        ("sending", send_status.SENT),
        ("sent", send_status.SENT),
        ("Delivered", send_status.DELIVERED),
        ("read", send_status.DELIVERED),
        ("partially_delivered", send_status.DELIVERED),
        ("undelivered", send_status.UNDELIVERED),
        ("failed", send_status.FAILED),
        ("canceled", send_status.FAILED),
        ("received", None),
        ("receiving", None),
        ("nonsense", None),
    ],
)
def test_twilio_statuses_map_onto_ours(twilio: str, ours: str | None) -> None:
    assert twilio_statuses.from_twilio(twilio) == ours


def test_callbacks_in_any_order_end_in_the_furthest_state() -> None:
    arrivals = ["queued", "sent", "delivered"]
    for order in itertools.permutations(arrivals):
        current = send_status.SENDING
        for twilio in order:
            new = twilio_statuses.from_twilio(twilio)
            assert new is not None
            if send_status.advances(current, new):
                current = new
        assert current == send_status.DELIVERED
