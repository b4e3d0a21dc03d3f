"""Every setting of every service, read once from the environment (and `.env` in development).

One pydantic-settings class per concern, so a service loads only what it uses; `load_settings`
turns a validation failure into a `ConfigError` that names the environment variable and never
echoes its value (it may be a secret).
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Each owns a database; `admin` (the admin API and CLI) keeps its tokens and audit log in its own.
SERVICES = ("ingress", "sms_worker", "sms_sender", "billing_worker", "scheduler", "admin")


class ConfigError(Exception):
    """Configuration is invalid; the message names each offending environment variable."""


class _Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)


def _require_scheme(url: str, schemes: tuple[str, ...]) -> str:
    scheme = urlsplit(url).scheme
    if scheme not in schemes:
        raise ValueError(f"scheme must be one of {', '.join(schemes)}")
    return url


def is_loopback_host(host: str | None) -> bool:
    """`localhost` or a loopback address (127.0.0.0/8, ::1): reachable from this machine only."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_https_unless_loopback(url: str | None) -> str | None:
    """A provider's API address: https, or plain http only to a loopback host (the local fakes).

    Credentials and caregivers' messages travel to these addresses; plain http anywhere else
    would hand them to whoever is on the path."""
    if url is None or not url.strip():
        return None
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return url
    raise ValueError("must be an https:// URL (plain http only to localhost, for local fakes)")


def secret_list(value: SecretStr | None) -> list[str]:
    """The non-empty comma-separated items of a secret (several keys during a rotation)."""
    if value is None:
        return []
    return [item.strip() for item in value.get_secret_value().split(",") if item.strip()]


class DeploymentSettings(_Settings):
    """What kind of deployment this process belongs to. A few start-up checks that keep a real
    deployment from running half-configured (the console SMS transport, a billing worker that
    cannot reconcile with Stripe) are relaxed only in `development`. Unset means production, so a
    deployment that forgets to say what it is gets the strict checks: it fails closed."""

    model_config = SettingsConfigDict(env_prefix="GIVECARE_")

    env: Literal["development", "production"] = "production"

    @property
    def development(self) -> bool:
        return self.env == "development"


class BrokerSettings(_Settings):
    """RabbitMQ: connection, topology names, consumer flow control and retry policy."""

    model_config = SettingsConfigDict(env_prefix="RABBITMQ_")

    url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    exchange: str = Field("givecare.events", min_length=1)
    # Prepended to every consumer queue name, so several environments (or test runs) can share
    # one broker without their queues receiving each other's events.
    queue_prefix: str = ""
    heartbeat_seconds: int = Field(30, ge=0, le=600)
    prefetch: int = Field(50, ge=1, le=10_000)
    publish_timeout_seconds: float = Field(10.0, gt=0)
    # Attempts include the first delivery: 5 means one try and four retries before parking.
    max_attempts: int = Field(5, ge=1, le=50)
    retry_base_delay_ms: int = Field(1_000, ge=1)
    retry_max_delay_ms: int = Field(300_000, ge=1)
    # Quorum-queue redeliveries (consumer crashed before ack) after which a message is parked
    # instead of crash-looping the consumers forever.
    delivery_limit: int = Field(20, ge=1)
    shutdown_grace_seconds: float = Field(30.0, ge=0)

    def queue(self, name: str) -> str:
        return f"{self.queue_prefix}{name}"

    @field_validator("url")
    @classmethod
    def _amqp_url(cls, value: SecretStr) -> SecretStr:
        _require_scheme(value.get_secret_value(), ("amqp", "amqps"))
        return value


class MongoSettings(_Settings):
    """MongoDB: one deployment, one database per service, inbox/outbox retention."""

    model_config = SettingsConfigDict(env_prefix="MONGODB_")

    url: SecretStr = SecretStr("mongodb://127.0.0.1:27017/?directConnection=true")
    db_prefix: str = Field("givecare", min_length=1)
    db_ingress: str | None = None
    db_sms_worker: str | None = None
    db_sms_sender: str | None = None
    db_billing_worker: str | None = None
    db_scheduler: str | None = None
    db_admin: str | None = None
    server_selection_timeout_ms: int = Field(5_000, ge=100)
    # Pooled connections idle longer than this are replaced before use: servers, proxies and
    # load balancers drop idle connections (SecantusDB after 300 s), and with retryWrites off
    # a write on such a connection fails instead of being retried.
    max_idle_time_ms: int = Field(60_000, ge=1_000)
    # Tests and audits only: append every write's service, database and collection to this file
    # (`shared/mongo/write_log.py`).
    write_log: Path | None = None
    inbox_retention_days: float = Field(14, gt=0)
    outbox_retention_days: float = Field(7, gt=0)

    @field_validator("url")
    @classmethod
    def _mongo_url(cls, value: SecretStr) -> SecretStr:
        _require_scheme(value.get_secret_value(), ("mongodb", "mongodb+srv"))
        return value

    def database_name(self, service: str) -> str:
        """`MONGODB_DB_<SERVICE>` when set, else `<prefix>_<service>`."""
        if service not in SERVICES:
            raise ValueError(f"unknown service {service!r}")
        override: str | None = getattr(self, f"db_{service}")
        return override or f"{self.db_prefix}_{service}"


class OutboxSettings(_Settings):
    """How the outbox relay polls and how long a claimed row is held before another may retry."""

    model_config = SettingsConfigDict(env_prefix="OUTBOX_")

    poll_interval_seconds: float = Field(1.0, gt=0)
    batch_size: int = Field(100, ge=1, le=10_000)
    claim_lease_seconds: float = Field(30.0, gt=0)
    # Published rows are marked sent together, this long after the first of them, unless the
    # next write of new rows carries the marks first. A mark lost to a crash costs a repeat the
    # consumers' inboxes drop. (1 s saves about 0.2 commands per message and service, but twice
    # a chaos run failed with it, unexplained: docs/performance.md.)
    mark_sent_delay_seconds: float = Field(0.2, ge=0, le=5)


class LoggingSettings(_Settings):
    """Log level and format: JSON for machines, console for people (default: by TTY)."""

    model_config = SettingsConfigDict(env_prefix="LOG_")

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    format: Literal["json", "console"] | None = None

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @property
    def as_json(self) -> bool:
        if self.format is None:
            return not sys.stdout.isatty()
        return self.format == "json"


class SubscriptionSettings(_Settings):
    """The subscription gate, one switch for every service: off until billing is live."""

    model_config = SettingsConfigDict(env_prefix="SUBSCRIPTIONS_")

    enabled: bool = False


class LinkSettings(_Settings):
    """The public pages texts link to, one definition for every service: the sign-up page (texts
    add `?phone=<E.164>` so the form is pre-filled) and the billing page."""

    model_config = SettingsConfigDict(env_prefix="")

    signup_url: str = "https://givecare.example/signup"
    billing_url: str = "https://givecare.example/billing"


class MigrationSettings(_Settings):
    """Data migrations: where their progress is kept, batch size, throttle and lease."""

    model_config = SettingsConfigDict(env_prefix="MIGRATIONS_")

    state_db: str = Field("givecare_migrations", min_length=1)
    # Where the legacy store's collections (`users`, `messages`) were imported.
    legacy_db: str = Field("givecare_legacy", min_length=1)
    batch_size: int = Field(500, ge=1, le=100_000)
    # 0 = as fast as the database allows; otherwise source documents per second, at most.
    throttle_docs_per_second: float = Field(0, ge=0)
    lease_seconds: float = Field(60, gt=0)


DEFAULT_OPS_PORTS = {
    "ingress": 8000,
    "sms_worker": 9101,
    "billing_worker": 9102,
    "scheduler": 9103,
    "sms_sender": 9104,
}


class OpsSettings(_Settings):
    """Where a worker serves /healthz, /readyz and /metrics, and how long it waits at start-up."""

    model_config = SettingsConfigDict(env_prefix="OPS_")

    host: str = "127.0.0.1"
    # Unset: the service's default port (sms_worker 9101, billing_worker 9102, scheduler 9103).
    port: int | None = Field(None, ge=0, le=65_535)
    # How long a starting service retries a broker or database that is not up yet.
    startup_wait_seconds: float = Field(60.0, ge=0)

    def port_for(self, service: str) -> int:
        return self.port if self.port is not None else DEFAULT_OPS_PORTS[service]


class TwilioSettings(_Settings):
    """Twilio REST credentials and sender identity (the sender refuses to start without them
    unless SENDER_TRANSPORT=console), the webhook secrets ingress checks, the API address."""

    model_config = SettingsConfigDict(env_prefix="TWILIO_")

    account_sid: str | None = None
    auth_token: SecretStr | None = None
    # Further secrets webhook signatures may be made with, comma-separated, accepted by ingress
    # besides TWILIO_AUTH_TOKEN: the next auth token while it is promoted (rotation), or the
    # secret of a Twilio SharedKey when webhooks are signed with HMAC-SHA256.
    webhook_auth_tokens: SecretStr = SecretStr("")
    from_number: str | None = None
    messaging_service_sid: str | None = None
    api_base_url: str | None = None
    status_callback_url: str | None = None
    # A REST call without an answer by then counts as a network failure (outcome unknown).
    request_timeout_seconds: float = Field(10.0, gt=0, le=120)

    @field_validator("api_base_url")
    @classmethod
    def _https_api(cls, value: str | None) -> str | None:
        return require_https_unless_loopback(value)

    @property
    def configured(self) -> bool:
        return bool(self.account_sid and self.auth_token)

    @property
    def webhook_token_list(self) -> list[str]:
        """Every secret a genuine webhook may be signed with: the auth token first."""
        primary = self.auth_token.get_secret_value().strip() if self.auth_token else ""
        tokens = ([primary] if primary else []) + secret_list(self.webhook_auth_tokens)
        return list(dict.fromkeys(tokens))


class SenderSettings(_Settings):
    """The SMS sender: claim leases, retry policy, the per-recipient cap and body limit."""

    model_config = SettingsConfigDict(env_prefix="SENDER_")

    # Where outbound SMS go: Twilio (credentials required), or the console, which delivers
    # nothing and is accepted only with GIVECARE_ENV=development. Never chosen implicitly: a
    # sender that silently logged instead of sending would drop crisis replies unseen.
    transport: Literal["twilio", "console"] = "twilio"
    # A claimed send is another sender's to take over (after asking Twilio) once this runs out;
    # keep it well above TWILIO_REQUEST_TIMEOUT_SECONDS.
    lease_seconds: float = Field(60.0, gt=0)
    poll_interval_seconds: float = Field(1.0, gt=0)
    poll_batch_size: int = Field(50, ge=1, le=1_000)
    max_attempts: int = Field(6, ge=1, le=50)
    retry_base_seconds: float = Field(2.0, gt=0)
    retry_max_seconds: float = Field(300.0, gt=0)
    # Per-recipient caps, the last defence against an SMS storm from a bug upstream: at most
    # `send_cap` messages per `send_cap_window_seconds` (a burst) and `send_cap_daily` per
    # rolling 24 h (the bill). Both sit above what the rules can legitimately produce (30
    # inbound a day, one reply each, plus a limit notice, one proactive and a few billing
    # texts), since onboarding plus a baseline assessment alone is 16 replies in minutes.
    # Crisis replies are never held back (they still count).
    send_cap: int = Field(40, ge=1, le=1_000)
    send_cap_window_seconds: float = Field(3_600.0, gt=0)
    send_cap_daily: int = Field(60, ge=1, le=1_000)
    max_body_chars: int = Field(1_600, ge=1, le=1_600)
    # In-doubt sends are looked up at Twilio from the claim time minus this clock-skew margin.
    in_doubt_skew_seconds: float = Field(120.0, ge=0)
    in_doubt_lookup_limit: int = Field(50, ge=1, le=1_000)


class StripeSettings(_Settings):
    """Stripe API key, webhook secrets (several during rotation) and the API base address."""

    model_config = SettingsConfigDict(env_prefix="STRIPE_")

    api_key: SecretStr | None = None
    # Comma-separated, so a new endpoint secret can be added before the old one is retired.
    webhook_secret: SecretStr = SecretStr("")
    webhook_tolerance_seconds: int = Field(300, ge=1)
    api_base_url: str | None = None

    @field_validator("api_base_url")
    @classmethod
    def _https_api(cls, value: str | None) -> str | None:
        return require_https_unless_loopback(value)

    @property
    def webhook_secret_list(self) -> list[str]:
        return secret_list(self.webhook_secret)


_S = TypeVar("_S", bound=BaseSettings)


def load_settings(settings_class: type[_S], **overrides: Any) -> _S:
    """Build `settings_class` from the environment, or raise `ConfigError` naming each variable."""
    try:
        return settings_class(**overrides)
    except ValidationError as error:
        prefix = str(settings_class.model_config.get("env_prefix", ""))
        problems = []
        for item in error.errors(include_input=False, include_url=False):
            field = ".".join(str(part) for part in item["loc"])
            problems.append(f"{(prefix + field).upper()}: {item['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
