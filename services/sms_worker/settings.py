"""SMS worker settings: the numbers of the inbound and proactive rules, the gate, the LLM.

Every number in the domain rules is a setting here, with the rule's value as its default, so a
policy change is an environment change. `SUBSCRIPTIONS_ENABLED` and `LLM_*` are named as the
issue and operators know them.
"""

from __future__ import annotations

import itertools
import zoneinfo
from datetime import timedelta

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.sms_worker.inbound import Policy
from services.sms_worker.proactive import Cadence, ProactivePolicy, stages


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
    # Replies aim for one segment; the sender caps any SMS at 1600 characters.
    reply_max_chars: int = Field(160, ge=40, le=1600)
    signup_url: str = "https://givecareapp.com/signup"
    billing_url: str = "https://givecareapp.com/billing"
    # Proactive messages: the premises the scheduler decided on, re-checked before sending.
    # They mirror the scheduler's rules (services/scheduler/rules.py) and must agree with them.
    crisis_followup_days: tuple[int, ...] = (1, 3, 7, 14, 21, 28, 35)
    reactivation_silence_days: tuple[int, ...] = (7, 14, 30)
    crisis_daily_checkin_days: float = Field(7, gt=0)
    checkin_recent_contact_days_daily: float = Field(2, gt=0)
    checkin_recent_contact_days_every_3_days: float = Field(2, gt=0)
    checkin_recent_contact_days_weekly: float = Field(3, gt=0)

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA time zone") from None
        return value

    @field_validator("crisis_followup_days", "reactivation_silence_days")
    @classmethod
    def _increasing_days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or value[0] < 1 or any(a >= b for a, b in itertools.pairwise(value)):
            raise ValueError("must be increasing whole days, the first at least 1")
        return value

    @field_validator("crisis_followup_days")
    @classmethod
    def _crisis_stages_have_texts(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        return _stages_have_texts(value, stages("crisis_followup"))

    @field_validator("reactivation_silence_days")
    @classmethod
    def _reactivation_stages_have_texts(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        return _stages_have_texts(value, stages("reactivation"))

    def policy(self) -> Policy:
        return Policy(
            rate_limit_per_day=self.rate_limit_per_day,
            onboarding_max_attempts=self.onboarding_max_attempts,
            onboarding_cooldown=timedelta(hours=self.onboarding_cooldown_hours),
            assessment_expiry=timedelta(hours=self.assessment_expiry_hours),
            snooze=timedelta(days=self.checkin_snooze_days),
            signup_url=self.signup_url,
            billing_url=self.billing_url,
        )

    def proactive_policy(self) -> ProactivePolicy:
        return ProactivePolicy(
            crisis_followup_days=self.crisis_followup_days,
            reactivation_silence_days=self.reactivation_silence_days,
            crisis_daily_checkins=timedelta(days=self.crisis_daily_checkin_days),
            checkin_recent_contact={
                Cadence.DAILY: timedelta(days=self.checkin_recent_contact_days_daily),
                Cadence.EVERY_3_DAYS: timedelta(days=self.checkin_recent_contact_days_every_3_days),
                Cadence.WEEKLY: timedelta(days=self.checkin_recent_contact_days_weekly),
            },
        )


def _stages_have_texts(days: tuple[int, ...], texts: tuple[int, ...]) -> tuple[int, ...]:
    """Every stage needs its words in proactive_messages.json, so a stage is never sent blank."""
    if tuple(range(1, len(days) + 1)) != texts:
        raise ValueError(f"{len(days)} stages, but texts for stages {list(texts)}")
    return days


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

    @property
    def enabled(self) -> bool:
        return bool(self.base_url)
