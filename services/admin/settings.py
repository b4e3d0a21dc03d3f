"""Admin settings (`ADMIN_*`): the bootstrap token, token lifetimes, the failed-login limit and
how much a read returns. Roles are not here on purpose: they live in `users.roles`."""

from __future__ import annotations

from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from shared.config import _Settings

# The most rows one admin request reads or acts on: a page. More is paging (`limit` again after
# acting on the first page), never one request that holds the database or the broker for long.
MAX_PAGE_ROWS: Final = 500
# A bootstrap token shorter than this is guessable enough to matter (it opens the first admin).
MIN_BOOTSTRAP_TOKEN_CHARS = 24


class AdminSettings(_Settings):
    model_config = SettingsConfigDict(
        env_prefix="ADMIN_", env_file=".env", extra="ignore", frozen=True
    )

    # Creates the first admin, once; refused as soon as an admin exists. Unset: no bootstrap.
    bootstrap_token: SecretStr | None = None
    # Lifetime of a new API token unless the request asks for less.
    token_ttl_days: float = Field(90, gt=0, le=3_650)
    # Failed authentication attempts per client within the window before it gets 429s.
    failed_auth_limit: int = Field(10, ge=1, le=10_000)
    failed_auth_window_seconds: float = Field(900, ge=1)
    # `last_used_at` is written at most this often per token, not on every request.
    last_used_interval_seconds: float = Field(60, ge=0)
    # The most rows a list (alerts, failed sends, parked events, audit log) returns.
    max_list_limit: int = Field(MAX_PAGE_ROWS, ge=1, le=MAX_PAGE_ROWS)
    # Messages shown in a user's detail.
    recent_messages: int = Field(10, ge=0, le=200)
    # Where "today" starts for the metrics' messages in/out today.
    metrics_timezone: str = "UTC"

    @field_validator("bootstrap_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < MIN_BOOTSTRAP_TOKEN_CHARS:
            raise ValueError(f"must be at least {MIN_BOOTSTRAP_TOKEN_CHARS} characters")
        return value

    @field_validator("metrics_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA time zone") from None
        return value
