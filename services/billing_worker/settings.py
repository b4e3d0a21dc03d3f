"""Settings of the billing worker and its CLI commands (`BILLING_*`); the sign-up page its texts
link to is `shared.config.LinkSettings` (`SIGNUP_URL`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.config import _Settings


class BillingSettings(_Settings):
    """Checkout prices and return pages, the subscription re-fetch policy, the expiry sweep and
    the scheduled reconcile."""

    model_config = SettingsConfigDict(
        env_prefix="BILLING_", env_file=".env", extra="ignore", frozen=True
    )

    # Stripe price ids offered by `givecare billing checkout-link --plan monthly|annual`.
    price_monthly: str | None = None
    price_annual: str | None = None
    checkout_success_url: str = "https://givecare.example/welcome"
    checkout_cancel_url: str = "https://givecare.example/signup"
    # Re-fetch the subscription through the Stripe API: "off"; "uncertain" when the event does not
    # say the status or ties in time with the last change applied; "always" for every
    # subscription event.
    refetch_subscriptions: Literal["off", "uncertain", "always"] = "off"
    stripe_timeout_seconds: float = Field(10.0, gt=0)
    stripe_max_network_retries: int = Field(2, ge=0, le=10)
    # How often canceled subscriptions whose paid period ended lose access.
    access_sweep_interval_seconds: float = Field(60.0, gt=0)
    # Invoices remembered per account to send one update-payment notice each.
    payment_notice_memory: int = Field(24, ge=1, le=1_000)
    # How often the worker lists Stripe's recent events and feeds those it never received, as
    # the `reconcile` command does (needs STRIPE_API_KEY). One replica runs it per interval; each
    # run covers the time since the last successful one. 0: not on a schedule.
    reconcile_interval_seconds: float = Field(86_400.0, ge=0)
