"""Segment counting as carriers bill it (GSM-7 septets vs UCS-2 units) and the refusal rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.sms_sender.domain.body import (
    MAX_BODY_CHARS,
    SegmentCount,
    count_segments,
    is_gsm7,
    refusal_reason,
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", SegmentCount("GSM-7", 0, 0)),
        ("Hi", SegmentCount("GSM-7", 2, 1)),
        ("a" * 160, SegmentCount("GSM-7", 160, 1)),
        ("a" * 161, SegmentCount("GSM-7", 161, 2)),
        ("a" * 306, SegmentCount("GSM-7", 306, 2)),
        ("a" * 307, SegmentCount("GSM-7", 307, 3)),
        # Extension characters take two septets: 80 of them fill one SMS exactly.
        ("€" * 80, SegmentCount("GSM-7", 160, 1)),
        ("€" * 81, SegmentCount("GSM-7", 162, 2)),
        ("[]{}~^|\\", SegmentCount("GSM-7", 16, 1)),
        ("ÄÖÑÜäöñüàèéùìòÇØøÅåÆæßÉ¿¡§£¥", SegmentCount("GSM-7", 28, 1)),
        # One character outside the GSM alphabet turns the whole body into UCS-2.
        ("a" * 69 + "ç", SegmentCount("UCS-2", 70, 1)),
        ("a" * 70 + "ç", SegmentCount("UCS-2", 71, 2)),
        ("ç" * 134, SegmentCount("UCS-2", 134, 2)),
        ("ç" * 135, SegmentCount("UCS-2", 135, 3)),
        # An emoji is a surrogate pair: two UTF-16 units.
        ("😀" * 35, SegmentCount("UCS-2", 70, 1)),
        ("😀" * 36, SegmentCount("UCS-2", 72, 2)),
        # Curly quotes are not GSM: a pasted reply silently doubles its cost.
        ("\u2018smart quotes\u2019", SegmentCount("UCS-2", 14, 1)),
    ],
)
def test_segments(body: str, expected: SegmentCount) -> None:
    assert count_segments(body) == expected


def test_escape_pair_never_straddles_two_segments() -> None:
    # 152 plain septets then an extension character: 153 would split the pair, so it moves on.
    body = "a" * 152 + "€" + "a" * 10
    assert count_segments(body) == SegmentCount("GSM-7", 164, 2)
    assert count_segments("a" * 152 + "€" + "a" * 152).segments == 3


def test_surrogate_pair_never_straddles_two_segments() -> None:
    body = "ç" * 66 + "😀" + "ç" * 10
    assert count_segments(body) == SegmentCount("UCS-2", 78, 2)
    assert count_segments("ç" * 66 + "😀" + "ç" * 66).segments == 3


@given(st.text(alphabet="abc XYZ0123456789.,!?€[]", max_size=2000))
def test_gsm_bodies_fit_the_segments_counted(body: str) -> None:
    counted = count_segments(body)
    assert counted.encoding == "GSM-7"
    capacity = 160 if counted.segments <= 1 else 153 * counted.segments
    assert counted.units <= capacity
    if counted.segments > 1:
        # One segment fewer could not hold it (counting the bytes an escape pair may waste).
        assert counted.units > 153 * (counted.segments - 1) - (counted.segments - 1)


@given(st.text(max_size=400))
def test_encoding_is_gsm_exactly_when_every_character_is(body: str) -> None:
    assert (count_segments(body).encoding == "GSM-7") == is_gsm7(body)


def test_refusals_keep_the_body_as_it_is() -> None:
    assert refusal_reason("x" * MAX_BODY_CHARS) is None
    assert refusal_reason("x" * (MAX_BODY_CHARS + 1)) == "body_too_long"
    assert refusal_reason("x" * 11, max_chars=10) == "body_too_long"
    assert refusal_reason("   \n") == "body_empty"
    assert refusal_reason("😀" * MAX_BODY_CHARS) is None
