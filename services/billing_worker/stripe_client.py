"""The Stripe API through the official SDK: one async `StripeClient` per process.

`STRIPE_API_BASE_URL` points it elsewhere (a fake server in tests); network errors, 429s and
5xx are retried by the SDK itself (`BILLING_STRIPE_MAX_NETWORK_RETRIES`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import stripe

from services.billing_worker.settings import BillingSettings
from shared.config import ConfigError, StripeSettings

_NOT_FOUND = 404


def stripe_client(stripe_settings: StripeSettings, billing: BillingSettings) -> stripe.StripeClient:
    """An async-capable client; raises `ConfigError` when no API key is configured."""
    if stripe_settings.api_key is None or not stripe_settings.api_key.get_secret_value():
        raise ConfigError("invalid configuration: STRIPE_API_KEY: required for Stripe API calls")
    base_url = stripe_settings.api_base_url
    return stripe.StripeClient(
        stripe_settings.api_key.get_secret_value(),
        base_addresses={"api": base_url.rstrip("/")} if base_url else None,
        http_client=stripe.HTTPXClient(timeout=billing.stripe_timeout_seconds),
        max_network_retries=billing.stripe_max_network_retries,
    )


def configured_stripe_client(
    stripe_settings: StripeSettings, billing: BillingSettings
) -> stripe.StripeClient | None:
    """`stripe_client` when an API key is configured, else None (for what can say so instead)."""
    api_key = stripe_settings.api_key
    if api_key is None or not api_key.get_secret_value().strip():
        return None
    return stripe_client(stripe_settings, billing)


class StripeSubscriptions:
    """Reads subscriptions from Stripe: the source of truth when events leave doubt."""

    def __init__(self, client: stripe.StripeClient) -> None:
        self._client = client

    async def subscription(self, subscription_id: str) -> Mapping[str, Any] | None:
        """The subscription as Stripe has it now, or None if Stripe does not know it."""
        try:
            found = await self._client.v1.subscriptions.retrieve_async(subscription_id)
        except stripe.InvalidRequestError as error:
            if error.http_status == _NOT_FOUND:
                return None
            raise
        return found.to_dict()
