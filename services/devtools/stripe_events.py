"""Stripe objects and events shaped like the API's (version 2025-03-31 and later), for the fake
Stripe, the tests, and `givecare stripe send`.

`caregiver_event` builds a whole event for one caregiver the way our own Checkout link sets them up
(phone in the metadata, ids derived from the phone), so a sequence of sends tells one story:
checkout → subscription created → invoice paid / payment failed → subscription deleted.
"""

from __future__ import annotations

import itertools
import re
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

_SEQUENCE = itertools.count(1)
_PERIOD = timedelta(days=30)


def unix(instant: datetime) -> int:
    return int(instant.timestamp())


def subscription_object(
    subscription_id: str,
    customer_id: str,
    status: str,
    *,
    current_period_end: datetime | None = None,
    cancel_at_period_end: bool = False,
    canceled_at: datetime | None = None,
    trial_end: datetime | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A subscription as API version 2025-03-31 and later sends it: the period on the item."""
    period_end = unix(current_period_end) if current_period_end else None
    return {
        "id": subscription_id,
        "object": "subscription",
        "customer": customer_id,
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": unix(canceled_at) if canceled_at else None,
        "trial_end": unix(trial_end) if trial_end else None,
        "metadata": metadata or {},
        "items": {
            "object": "list",
            "data": [{"id": f"si_{subscription_id}", "current_period_end": period_end}],
        },
    }


def checkout_session_object(
    customer_id: str,
    subscription_id: str | None,
    *,
    phone: str | None = None,
    user_id: str | None = None,
) -> dict[str, Any]:
    metadata = {k: v for k, v in (("phone", phone), ("user_id", user_id)) if v is not None}
    return {
        "id": f"cs_test_{next(_SEQUENCE)}",
        "object": "checkout.session",
        "mode": "subscription",
        "status": "complete",
        "customer": customer_id,
        "subscription": subscription_id,
        "metadata": metadata,
    }


def invoice_object(
    invoice_id: str,
    customer_id: str,
    subscription_id: str,
    *,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An invoice as API version 2025-03-31 and later sends it: the subscription, and the
    subscription's metadata, under `parent`."""
    return {
        "id": invoice_id,
        "object": "invoice",
        "customer": customer_id,
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": subscription_id, "metadata": metadata or {}},
        },
    }


def event_object(
    event_id: str,
    event_type: str,
    created: datetime,
    data_object: dict[str, Any],
    *,
    previous_attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"object": data_object}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": unix(created),
        "livemode": False,
        "api_version": "2025-03-31.basil",
        "data": data,
    }


class BillingEventType(StrEnum):
    """The Stripe event types the billing worker acts on (anything else is only recorded)."""

    CHECKOUT_COMPLETED = "checkout.session.completed"
    SUBSCRIPTION_CREATED = "customer.subscription.created"
    SUBSCRIPTION_UPDATED = "customer.subscription.updated"
    SUBSCRIPTION_DELETED = "customer.subscription.deleted"
    INVOICE_PAID = "invoice.paid"
    INVOICE_PAYMENT_FAILED = "invoice.payment_failed"


def caregiver_event(
    event_type: BillingEventType,
    phone: str,
    *,
    status: str = "active",
    now: datetime | None = None,
    event_id: str | None = None,
    invoice_id: str | None = None,
) -> dict[str, Any]:
    """One caregiver's event: customer `cus_dev_<digits>` and subscription `sub_dev_<digits>`
    from the phone, the phone in the metadata as our Checkout link puts it there, a fresh event
    id (pass one to send a duplicate) and a fresh invoice id (pass one to repeat an invoice).
    `status` is the subscription's for created/updated; deleted is always `canceled`."""
    moment = now or datetime.now(UTC)
    digits = re.sub(r"\D", "", phone)
    customer, subscription = f"cus_dev_{digits}", f"sub_dev_{digits}"
    metadata = {"phone": phone}
    data: dict[str, Any]
    if event_type is BillingEventType.CHECKOUT_COMPLETED:
        data = checkout_session_object(customer, subscription, phone=phone)
    elif event_type is BillingEventType.SUBSCRIPTION_DELETED:
        data = subscription_object(
            subscription,
            customer,
            "canceled",
            current_period_end=moment,
            canceled_at=moment,
            metadata=metadata,
        )
    elif event_type in (
        BillingEventType.SUBSCRIPTION_CREATED,
        BillingEventType.SUBSCRIPTION_UPDATED,
    ):
        data = subscription_object(
            subscription, customer, status, current_period_end=moment + _PERIOD, metadata=metadata
        )
    else:
        invoice = invoice_id or f"in_dev_{uuid.uuid4().hex[:16]}"
        data = invoice_object(invoice, customer, subscription, metadata=metadata)
    return event_object(event_id or f"evt_dev_{uuid.uuid4().hex}", event_type.value, moment, data)
