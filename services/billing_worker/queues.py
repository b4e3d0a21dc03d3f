"""The billing worker's queues: every Stripe event ingress accepted (handler: `service.py`), and
operators' requests from the admin API (handlers: `operator_requests.py`)."""

from __future__ import annotations

from shared.broker import ConsumerQueue
from shared.events.catalog import (
    BillingReconcileRequested,
    CheckoutLinkRequested,
    StripeEventReceived,
)

STRIPE = ConsumerQueue("billing_worker.stripe", (StripeEventReceived,))
REQUESTS = ConsumerQueue(
    "billing_worker.requests", (BillingReconcileRequested, CheckoutLinkRequested)
)

QUEUES = (STRIPE, REQUESTS)
