"""Creating a Stripe Checkout Session for a caregiver: the way in for operators and the signup
site. The phone (and user id, when known) ride in the session's and the subscription's metadata,
which is how the billing worker links the resulting customer to the caregiver."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import stripe
from stripe import RequestOptions
from stripe.params.checkout import SessionCreateParams

from services.billing_worker.settings import BillingSettings

Plan = Literal["monthly", "annual"]


class PriceNotConfigured(Exception):
    """The plan has no Stripe price id in the settings."""


@dataclass(frozen=True)
class CheckoutLink:
    session_id: str
    url: str


def price_for(plan: Plan, settings: BillingSettings) -> str:
    price = settings.price_monthly if plan == "monthly" else settings.price_annual
    if not price:
        raise PriceNotConfigured(f"BILLING_PRICE_{plan.upper()} is not set")
    return price


async def create_checkout_link(
    client: stripe.StripeClient,
    settings: BillingSettings,
    *,
    phone: str,
    plan: Plan,
    user_id: str | None = None,
    idempotency_key: str | None = None,
) -> CheckoutLink:
    """A subscription Checkout Session with promotion codes allowed; `phone` is E.164. With an
    `idempotency_key` (an operator request's id) Stripe answers a repeat with the same session."""
    metadata = {"phone": phone, **({"user_id": user_id} if user_id else {})}
    params: SessionCreateParams = {
        "mode": "subscription",
        "line_items": [{"price": price_for(plan, settings), "quantity": 1}],
        "allow_promotion_codes": True,
        "success_url": settings.checkout_success_url,
        "cancel_url": settings.checkout_cancel_url,
        "metadata": metadata,
        "subscription_data": {"metadata": metadata},
    }
    if user_id:
        params["client_reference_id"] = user_id
    options: RequestOptions = {"idempotency_key": idempotency_key} if idempotency_key else {}
    session = await client.v1.checkout.sessions.create_async(params, options)
    if not session.url:
        raise RuntimeError("Stripe returned a Checkout Session without a URL")
    return CheckoutLink(session_id=session.id, url=session.url)
