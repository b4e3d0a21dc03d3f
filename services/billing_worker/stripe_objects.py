"""Reading Stripe's JSON objects (as events carry them or the API returns them) into billing terms.

Pure and tolerant of API versions: the period end moved from the subscription to its items in
2025-03-31, and an invoice's subscription moved under `parent`; both shapes are read here, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.billing_worker.domain.access import SubscriptionState
from shared.events.catalog import StripeEventReceived
from shared.phones import InvalidPhoneNumber, normalise_phone


class MalformedStripeObject(ValueError):
    """A Stripe object without what every object of its kind has (an id, a status)."""


@dataclass(frozen=True)
class LinkHint:
    """Who a Stripe object belongs to, from the metadata our checkout put on it."""

    phone: str | None = None
    user_id: str | None = None

    @property
    def empty(self) -> bool:
        return self.phone is None and self.user_id is None


def timestamp(value: Any) -> datetime | None:
    """A Stripe Unix timestamp as an aware UTC datetime; anything else is None."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, ValueError, OSError):  # outside years 1-9999 or the platform's time_t
        return None


def object_id(value: Any) -> str | None:
    """An id field that may be a plain id or an expanded object."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, Mapping):
        return object_id(value.get("id"))
    return None


def e164(raw: Any) -> str | None:
    """A phone number in E.164, or None when it cannot be one (US numbers may omit +1).

    Read exactly as the SMS worker reads a sender (one function), so a Stripe customer and the
    caregiver texting from the same number are one user.
    """
    if not isinstance(raw, str):
        return None
    try:
        return normalise_phone(raw)
    except InvalidPhoneNumber:
        return None


def link_hint(obj: Mapping[str, Any]) -> LinkHint:
    """`metadata.phone` / `metadata.user_id` (checkout sessions also carry the user id as
    `client_reference_id`; invoices carry their subscription's metadata under `parent`)."""
    metadata = _metadata(obj)
    details = _subscription_details(obj)
    if not metadata and details is not None:
        metadata = _metadata(details)
    user_id = metadata.get("user_id") or obj.get("client_reference_id")
    return LinkHint(
        phone=e164(metadata.get("phone")),
        user_id=user_id if isinstance(user_id, str) and user_id else None,
    )


def customer_id(obj: Mapping[str, Any]) -> str | None:
    return object_id(obj.get("customer"))


def subscription_state(obj: Mapping[str, Any]) -> SubscriptionState:
    subscription_id = object_id(obj.get("id"))
    status = obj.get("status")
    if subscription_id is None:
        raise MalformedStripeObject("subscription without an id")
    if not isinstance(status, str) or not status:
        raise MalformedStripeObject("subscription without a status")
    return SubscriptionState(
        subscription_id=subscription_id,
        customer_id=customer_id(obj),
        status=status,
        current_period_end=_period_end(obj),
        cancel_at_period_end=bool(obj.get("cancel_at_period_end", False)),
        canceled_at=timestamp(obj.get("canceled_at")),
        trial_end=timestamp(obj.get("trial_end")),
    )


def has_status(obj: Mapping[str, Any]) -> bool:
    status = obj.get("status")
    return isinstance(status, str) and bool(status)


def invoice_subscription_id(obj: Mapping[str, Any]) -> str | None:
    direct = object_id(obj.get("subscription"))
    if direct is not None:
        return direct
    details = _subscription_details(obj)
    return object_id(details.get("subscription")) if details is not None else None


def stripe_event_payload(document: Mapping[str, Any], received_at: datetime) -> StripeEventReceived:
    """A Stripe event as the API lists it → the payload ingress publishes for a webhook."""
    event_id, event_type = document.get("id"), document.get("type")
    if not isinstance(event_id, str) or not event_id:
        raise MalformedStripeObject("event without an id")
    if not isinstance(event_type, str) or not event_type:
        raise MalformedStripeObject("event without a type")
    data = document.get("data")
    created = timestamp(document.get("created"))
    if not isinstance(data, Mapping) or not isinstance(data.get("object"), Mapping):
        raise MalformedStripeObject("event without data.object")
    if created is None:
        raise MalformedStripeObject("event without a created time")
    previous = data.get("previous_attributes")
    api_version = document.get("api_version")
    return StripeEventReceived(
        stripe_event_id=event_id,
        stripe_type=event_type,
        created=created,
        livemode=bool(document.get("livemode", False)),
        api_version=api_version if isinstance(api_version, str) else None,
        data_object=dict(data["object"]),
        previous_attributes=dict(previous) if isinstance(previous, Mapping) else None,
        received_at=received_at,
    )


def _period_end(obj: Mapping[str, Any]) -> datetime | None:
    direct = timestamp(obj.get("current_period_end"))
    if direct is not None:
        return direct
    items = obj.get("items")
    data = items.get("data") if isinstance(items, Mapping) else None
    if not isinstance(data, list):
        return None
    ends = [
        end
        for item in data
        if isinstance(item, Mapping)
        and (end := timestamp(item.get("current_period_end"))) is not None
    ]
    return max(ends, default=None)


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def _subscription_details(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    parent = obj.get("parent")
    if not isinstance(parent, Mapping):
        return None
    details = parent.get("subscription_details")
    return details if isinstance(details, Mapping) else None
