"""Sender normalisation: every US spelling becomes one E.164 key; non-numbers are refused."""

from __future__ import annotations

import pytest

from shared.phones import InvalidPhoneNumber, normalise_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+14155552671", "+14155552671"),
        ("4155552671", "+14155552671"),
        ("14155552671", "+14155552671"),
        ("1-415-555-2671", "+14155552671"),
        ("(415) 555-2671", "+14155552671"),
        ("415.555.2671", "+14155552671"),
        ("  +1 415 555 2671  ", "+14155552671"),
        ("+1 (202) 555-0143", "+12025550143"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+61 2 9374 4000", "+61293744000"),
        ("+15551234567", "+15551234567"),
    ],
)
def test_normalises_to_e164(raw: str, expected: str) -> None:
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "abc", "123", "12345", "GiveCare", "+1415555267199999", "1" * 40, "+", "++1"],
)
def test_refuses_what_is_not_a_phone_number(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        normalise_phone(raw)
