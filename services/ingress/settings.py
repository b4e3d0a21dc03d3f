"""Ingress settings: where it listens, whom it trusts in front of it, how it rebuilds the public
URL Twilio signed, and its limits."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class IngressSettings(BaseSettings):
    """The HTTP server, the proxies in front of it and its fast-path publishing."""

    model_config = SettingsConfigDict(
        env_prefix="INGRESS_", env_file=".env", extra="ignore", frozen=True
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65_535)
    workers: int = Field(1, ge=1, le=64)
    # A webhook answers within Twilio's 15 s; publishing inline gets at most this long before
    # the row is left to the background relay.
    publish_timeout_seconds: float = Field(2.0, gt=0)
    # The proxies (addresses or CIDR networks, comma-separated) whose X-Forwarded-For and
    # X-Forwarded-Proto are believed, through uvicorn's ProxyHeadersMiddleware: the client is
    # the rightmost address no trusted proxy added. Empty: trust no one, the client is the peer.
    forwarded_allow_ips: str = ""
    # Connections and tasks uvicorn serves at once per worker; beyond it answers 503 at once,
    # so a flood queues at the proxy instead of exhausting the pod's memory.
    limit_concurrency: int = Field(200, ge=1, le=100_000)

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses(cls, value: str) -> str:
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            if item == "*":
                raise ValueError("'*' would believe anyone's X-Forwarded-For; list the proxies")
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError("each entry must be an IP address or a CIDR network") from None
        return value

    @property
    def trusted_proxies(self) -> list[str]:
        return [part.strip() for part in self.forwarded_allow_ips.split(",") if part.strip()]


class WebhookSettings(BaseSettings):
    """How webhooks are checked; names as the providers' documentation uses them."""

    model_config = SettingsConfigDict(env_prefix="", env_file=".env", extra="ignore", frozen=True)

    # The scheme://host[:port] Twilio and Stripe call; Twilio signs the full URL it used.
    public_base_url: str | None = None
    # Development only: accept unsigned webhooks (every request logs a warning). Refused unless
    # PUBLIC_BASE_URL and INGRESS_HOST are loopback addresses (IngressConfig.check).
    insecure_skip_signature_check: bool = False
    # Every request body, on every route (webhooks and /admin), is refused past this many bytes
    # before authentication or parsing.
    webhook_max_body_bytes: int = Field(64 * 1024, ge=1_024, le=16 * 1024 * 1024)
    # Stripe timestamps further in the future than this are refused (the SDK accepts them).
    stripe_max_future_skew_seconds: int = Field(300, ge=0)

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s)://host[:port] URL")
        return value
