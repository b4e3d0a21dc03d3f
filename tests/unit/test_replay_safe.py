"""`shared.inbox.replay_safe`: a handler with no inbox row and no transaction rides out a lost
database connection as a transaction would, and leaves every other error to the consumer."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import AutoReconnect, DuplicateKeyError

from shared.events import Envelope, new_event
from shared.events.catalog import SmsOptOutChanged
from shared.inbox import replay_safe

EVENT = new_event(
    SmsOptOutChanged(
        phone="+15551230000", opted_out=True, source="keyword", changed_at="2026-03-01T12:00:00Z"
    )
)


class Flaky:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self, event: Envelope[Any]) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)


async def test_a_lost_connection_runs_the_handler_again() -> None:
    handler = Flaky([AutoReconnect("connection refused"), AutoReconnect("connection reset")])
    await replay_safe(handler)(EVENT)
    assert handler.calls == 3


async def test_any_other_error_reaches_the_consumer_at_once() -> None:
    handler = Flaky([DuplicateKeyError("E11000")])
    with pytest.raises(DuplicateKeyError):
        await replay_safe(handler)(EVENT)
    assert handler.calls == 1
