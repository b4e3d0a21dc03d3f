"""Retry delays: exponential ceilings, capped, with full jitter across the whole window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.sms_sender.domain.backoff import retry_ceiling, retry_delay


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 2.0), (2, 4.0), (3, 8.0), (7, 128.0), (8, 256.0), (9, 300.0)]
)
def test_ceiling_doubles_until_the_cap(attempt: int, ceiling: float) -> None:
    assert retry_ceiling(attempt, 2.0, 300.0) == ceiling


def test_full_jitter_spans_zero_to_the_ceiling() -> None:
    assert retry_delay(3, 2.0, 300.0, 0.0) == timedelta(0)
    assert retry_delay(3, 2.0, 300.0, 0.5) == timedelta(seconds=4)
    assert retry_delay(3, 2.0, 300.0, 0.999) < timedelta(seconds=8)


def test_huge_attempt_numbers_stay_at_the_cap() -> None:
    assert retry_ceiling(10_000, 2.0, 300.0) == 300.0


@given(
    st.integers(min_value=1, max_value=100),
    st.floats(min_value=0.001, max_value=60),
    st.floats(min_value=0.001, max_value=3_600),
    st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_delay_is_within_the_window(attempt: int, base: float, cap: float, draw: float) -> None:
    delay = retry_delay(attempt, base, cap, draw).total_seconds()
    assert 0 <= delay <= min(cap, retry_ceiling(attempt, base, cap)) + 1e-6
