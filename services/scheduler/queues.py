"""The scheduler's one queue: the facts its read model keeps (handlers: `handlers.py`)."""

from __future__ import annotations

from shared.broker import ConsumerQueue
from shared.events.catalog import (
    BillingAccessChanged,
    CrisisDetected,
    ProactiveMessageDeferred,
    SmsOptOutChanged,
    UserProfileChanged,
)

EVENTS = ConsumerQueue(
    "scheduler.events",
    (
        CrisisDetected,
        UserProfileChanged,
        SmsOptOutChanged,
        BillingAccessChanged,
        ProactiveMessageDeferred,
    ),
)

QUEUES = (EVENTS,)
