"""The billing worker's one queue: every Stripe event ingress accepted (handler: `service.py`)."""

from __future__ import annotations

from shared.broker import ConsumerQueue
from shared.events.catalog import StripeEventReceived

STRIPE = ConsumerQueue("billing_worker.stripe", (StripeEventReceived,))

QUEUES = (STRIPE,)
