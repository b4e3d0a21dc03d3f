"""Ingress settings: where it listens, whom it trusts in front of it, how it rebuilds the public
URL Twilio signed, and its limits; and `IngressConfig`, everything the app reads from the
environment, loaded and checked once."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.config import (
    BrokerSettings,
    ConfigError,
    MongoSettings,
    OutboxSettings,
    StripeSettings,
    TwilioSettings,
    is_loopback_host,
    load_settings,
)


class IngressSettings(BaseSettings):
    """The HTTP server, the proxies in front of it and its fast-path publishing."""

    model_config = SettingsConfigDict(
        env_prefix="INGRESS_", env_file=".env", extra="ignore", frozen=True
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65_535)
    # One process, always (see `_one_process`); kept as a setting so asking for more is refused
    # at start rather than ignored.
    workers: int = Field(1, ge=1)
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

    @field_validator("workers")
    @classmethod
    def _one_process(cls, value: int) -> int:
        # Every uvicorn worker is a process with its own Prometheus registry, and a scrape is
        # answered by whichever one accepts it: counters would jump between the workers' values
        # and alerts read the jumps as resets. Replicas scale instead, each scraped on its own
        # (docs/monitoring.md, "One process per ingress").
        if value != 1:
            raise ValueError(
                "must be 1: several uvicorn workers would each report only their own metrics "
                "to a scrape; run more ingress replicas instead"
            )
        return value

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


@dataclass(frozen=True)
class IngressConfig:
    """Everything the app reads from the environment, loaded once."""

    ingress: IngressSettings
    webhooks: WebhookSettings
    twilio: TwilioSettings
    stripe: StripeSettings
    broker: BrokerSettings
    mongo: MongoSettings
    outbox: OutboxSettings

    @classmethod
    def from_environment(cls) -> IngressConfig:
        return cls(
            ingress=load_settings(IngressSettings),
            webhooks=load_settings(WebhookSettings),
            twilio=load_settings(TwilioSettings),
            stripe=load_settings(StripeSettings),
            broker=load_settings(BrokerSettings),
            mongo=load_settings(MongoSettings),
            outbox=load_settings(OutboxSettings),
        )

    def check(self) -> None:
        """Refuse to run without a way to verify Twilio, and refuse the insecure flag anywhere
        but on a loopback address: the flag accepts anyone's forged webhooks."""
        if self.webhooks.insecure_skip_signature_check:
            base = self.webhooks.public_base_url
            if not (
                base
                and is_loopback_host(urlsplit(base).hostname)
                and is_loopback_host(self.ingress.host)
            ):
                raise ConfigError(
                    "invalid configuration: INSECURE_SKIP_SIGNATURE_CHECK: refused unless "
                    "PUBLIC_BASE_URL and INGRESS_HOST are loopback addresses (localhost, "
                    "127.0.0.1, ::1): unsigned webhooks are for development on one machine"
                )
            return
        if not self.twilio.webhook_token_list:
            raise ConfigError(
                "invalid configuration: TWILIO_AUTH_TOKEN: required to verify webhooks "
                "(or set INSECURE_SKIP_SIGNATURE_CHECK=true for local development only)"
            )
