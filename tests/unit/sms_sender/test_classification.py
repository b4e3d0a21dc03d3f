"""Which send failures are retried, which are final, and which leave the outcome in doubt."""

from __future__ import annotations

import pytest

from services.sms_sender.domain.classification import (
    PERMANENT_CODES,
    UNSUBSCRIBED,
    ErrorClass,
    classify,
    describe,
)

TRANSIENT_CERTAIN = ErrorClass(transient=True, uncertain=False)
TRANSIENT_IN_DOUBT = ErrorClass(transient=True, uncertain=True)
PERMANENT = ErrorClass(transient=False, uncertain=False)


@pytest.mark.parametrize(
    ("http_status", "code", "expected"),
    [
        (None, None, TRANSIENT_IN_DOUBT),  # network error or timeout: Twilio may have it
        (500, 20500, TRANSIENT_IN_DOUBT),
        (502, None, TRANSIENT_IN_DOUBT),
        (503, None, TRANSIENT_IN_DOUBT),
        (429, 20429, TRANSIENT_CERTAIN),
        (401, 20003, TRANSIENT_CERTAIN),  # credentials: an operator fixes them
        (403, None, TRANSIENT_CERTAIN),
        (400, 21610, PERMANENT),
        (400, 21211, PERMANENT),
        (400, 21614, PERMANENT),
        (400, 21408, PERMANENT),
        (400, 21617, PERMANENT),
        (400, 99999, PERMANENT),  # any other client error cannot succeed as it is
        (404, 20404, PERMANENT),
        (302, None, TRANSIENT_IN_DOUBT),
    ],
)
def test_classify(http_status: int | None, code: int | None, expected: ErrorClass) -> None:
    assert classify(http_status, code) == expected


@pytest.mark.parametrize("code", sorted(PERMANENT_CODES))
def test_every_named_code_is_permanent_and_described(code: int) -> None:
    assert classify(400, code) == PERMANENT
    assert describe(code, "fallback") == PERMANENT_CODES[code]


def test_unknown_codes_fall_back_to_the_given_reason() -> None:
    assert describe(None, "rejected") == "rejected"
    assert describe(12345, "rejected") == "rejected"
    assert "unsubscribed" in describe(UNSUBSCRIBED, "x")
