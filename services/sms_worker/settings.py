"""SMS worker settings: the numbers of the inbound and proactive rules, the gate, the LLM.

Every number in the domain rules is a setting here, with the rule's value as its default, so a
policy change is an environment change. `SUBSCRIPTIONS_ENABLED` and `LLM_*` are named as the
issue and operators know them.
"""

from __future__ import annotations

import zoneinfo
from datetime import timedelta

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.sms_worker.domain.inbound import Policy
from shared.config import LinkSettings, require_https_unless_loopback


class SmsWorkerSettings(BaseSettings):
    """Inbound SMS rules: limits, onboarding, assessments, reply length, links in replies."""

    model_config = SettingsConfigDict(
        env_prefix="SMS_", env_file=".env", extra="ignore", frozen=True
    )

    # Used until a ZIP code says otherwise (and for ZIP codes we cannot place).
    default_timezone: str = "America/New_York"
    rate_limit_per_day: int = Field(30, ge=1)
    onboarding_max_attempts: int = Field(2, ge=1)
    onboarding_cooldown_hours: float = Field(24, gt=0)
    assessment_expiry_hours: float = Field(24, gt=0)
    checkin_snooze_days: float = Field(7, gt=0)
    recent_messages: int = Field(20, ge=1, le=200)
    # With a responder that reads history, this many new entries bring the historical summary up
    # to date, before they leave the window of `recent_messages` (an exchange adds two or three).
    summary_after_messages: int = Field(16, ge=1, le=199)
    # Replies aim for one segment; the sender caps any SMS at 1600 characters.
    reply_max_chars: int = Field(160, ge=40, le=1600)
    # A proactive message consumed longer than this after it fell due is not sent as it is (the
    # worker was down, or a dead letter was replayed late): it is deferred to the scheduler, which
    # decides again from fresher facts — a check-in days late is worse than today's.
    proactive_max_delay_hours: float = Field(24, gt=0)

    @model_validator(mode="after")
    def _summary_before_the_window_rolls(self) -> SmsWorkerSettings:
        if self.summary_after_messages >= self.recent_messages:
            raise ValueError(
                "SMS_SUMMARY_AFTER_MESSAGES must be below SMS_RECENT_MESSAGES, or messages leave "
                "the window before the summary reads them"
            )
        return self

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA time zone") from None
        return value

    def policy(self, links: LinkSettings) -> Policy:
        return Policy(
            rate_limit_per_day=self.rate_limit_per_day,
            onboarding_max_attempts=self.onboarding_max_attempts,
            onboarding_cooldown=timedelta(hours=self.onboarding_cooldown_hours),
            assessment_expiry=timedelta(hours=self.assessment_expiry_hours),
            snooze=timedelta(days=self.checkin_snooze_days),
            signup_url=links.signup_url,
            billing_url=links.billing_url,
        )


class LlmSettings(BaseSettings):
    """An OpenAI-compatible chat-completions endpoint; unset `LLM_BASE_URL` = rules responder."""

    model_config = SettingsConfigDict(
        env_prefix="LLM_", env_file=".env", extra="ignore", frozen=True
    )

    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str = Field("gpt-4o-mini", min_length=1)
    # Per HTTP attempt; the SDK retries timeouts, 429 and 5xx `max_retries` times with backoff.
    timeout_seconds: float = Field(8.0, gt=0)
    max_retries: int = Field(2, ge=0, le=5)
    max_tool_rounds: int = Field(2, ge=0, le=5)
    max_tokens: int = Field(120, ge=16)
    # The historical summary is longer than a reply (about 800 characters asked for).
    summary_max_tokens: int = Field(300, ge=32)

    @field_validator("base_url")
    @classmethod
    def _https_api(cls, value: str | None) -> str | None:
        return require_https_unless_loopback(value)

    @property
    def enabled(self) -> bool:
        return bool(self.base_url)
