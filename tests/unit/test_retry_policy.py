"""Retry delays: exponential, jittered within bounds, capped, and growing between attempts."""

from __future__ import annotations

import pytest

from shared.broker import RetryPolicy

POLICY = RetryPolicy(max_attempts=6, base_delay_ms=1_000, max_delay_ms=10_000)


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(1, 500, 1_000), (2, 1_000, 2_000), (3, 2_000, 4_000), (4, 4_000, 8_000), (5, 5_000, 10_000)],
)
def test_delay_is_between_half_and_all_of_the_capped_step(
    attempt: int, low: int, high: int
) -> None:
    assert POLICY.delay_ms(attempt, 0.0) == low
    assert POLICY.delay_ms(attempt, 0.999999) == high
    assert low <= POLICY.delay_ms(attempt, 0.5) <= high


def test_successive_delays_never_shrink_whatever_the_jitter() -> None:
    for attempt in range(1, POLICY.max_attempts - 1):
        assert POLICY.delay_ms(attempt, 0.999999) <= POLICY.delay_ms(attempt + 1, 0.0) * 2


def test_retries_stop_at_max_attempts() -> None:
    assert POLICY.retry_tiers == 5
    assert [POLICY.should_retry(a) for a in range(1, 8)] == [True] * 5 + [False] * 2


def test_single_attempt_policy_never_retries() -> None:
    once = RetryPolicy(max_attempts=1, base_delay_ms=10, max_delay_ms=10)
    assert once.retry_tiers == 0
    assert not once.should_retry(1)
