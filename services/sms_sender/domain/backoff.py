"""When a transient send failure is tried again: exponential backoff with full jitter.

Full jitter (a delay uniform in [0, ceiling]) spreads retries of many messages that failed
together (a Twilio 429 burst) across the whole window. The broker's delay queues use equal
jitter for queue reasons; the sender's own due-time poller has no such constraint.
"""

from __future__ import annotations

from datetime import timedelta


def retry_ceiling(failed_attempt: int, base_seconds: float, max_seconds: float) -> float:
    """The longest wait after attempt `failed_attempt` (1-based) failed."""
    exponent = min(max(failed_attempt - 1, 0), 62)
    return float(min(max_seconds, base_seconds * 2**exponent))


def retry_delay(
    failed_attempt: int, base_seconds: float, max_seconds: float, unit_random: float
) -> timedelta:
    """The wait before the next attempt; `unit_random` is uniform in [0, 1)."""
    return timedelta(seconds=retry_ceiling(failed_attempt, base_seconds, max_seconds) * unit_random)
