"""The sender's one queue and the events bound to it (handlers: `wiring.Sender.bind`)."""

from __future__ import annotations

from shared.broker import ConsumerQueue
from shared.events.catalog import SmsOptOutChanged, SmsOutboundRequested, SmsStatusUpdated

EVENTS = ConsumerQueue(
    "sms_sender.events", (SmsOutboundRequested, SmsStatusUpdated, SmsOptOutChanged)
)

QUEUES = (EVENTS,)
