"""Ingress settings: where it listens, how it rebuilds the public URL Twilio signed, and limits."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IngressSettings(BaseSettings):
    """The HTTP server and its fast-path publishing."""

    model_config = SettingsConfigDict(
        env_prefix="INGRESS_", env_file=".env", extra="ignore", frozen=True
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65_535)
    workers: int = Field(1, ge=1, le=64)
    # A webhook answers within Twilio's 15 s; publishing inline gets at most this long before
    # the row is left to the background relay.
    publish_timeout_seconds: float = Field(2.0, gt=0)


class WebhookSettings(BaseSettings):
    """How webhooks are checked; names as the providers' documentation uses them."""

    model_config = SettingsConfigDict(env_prefix="", env_file=".env", extra="ignore", frozen=True)

    # The scheme://host[:port] Twilio and Stripe call; Twilio signs the full URL it used.
    public_base_url: str | None = None
    # Behind a proxy that sets X-Forwarded-Proto/Host, rebuild the URL from those instead.
    trust_proxy_headers: bool = False
    # Development only: accept unsigned webhooks (every request logs a warning).
    insecure_skip_signature_check: bool = False
    webhook_max_body_bytes: int = Field(64 * 1024, ge=1_024)
    # Stripe timestamps further in the future than this are refused (the SDK accepts them).
    stripe_max_future_skew_seconds: int = Field(300, ge=0)
