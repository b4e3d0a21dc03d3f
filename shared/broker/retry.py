"""When a failed event is tried again: exponential backoff with jitter, as pure arithmetic.

Jitter is "equal jitter" (a delay between half and all of the exponential step) rather than full
jitter: every retry tier then holds messages of similar TTL, so a message never waits long behind
a slower one at the head of its delay queue, and delays still grow from attempt to attempt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shared.config import BrokerSettings


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_delay_ms: int
    max_delay_ms: int

    @classmethod
    def from_settings(cls, settings: BrokerSettings) -> RetryPolicy:
        return cls(settings.max_attempts, settings.retry_base_delay_ms, settings.retry_max_delay_ms)

    @property
    def retry_tiers(self) -> int:
        """How many delay queues a consumer queue needs: one per retry."""
        return self.max_attempts - 1

    def should_retry(self, failed_attempt: int) -> bool:
        return failed_attempt < self.max_attempts

    def delay_ms(self, failed_attempt: int, unit_random: float) -> int:
        """Delay before attempt `failed_attempt + 1`; `unit_random` is uniform in [0, 1)."""
        step: int = min(self.max_delay_ms, self.base_delay_ms * 2 ** (failed_attempt - 1))
        return max(1, math.ceil(step * (0.5 + unit_random / 2)))
