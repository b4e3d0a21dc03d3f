"""The caregiver profile as the domain sees it: one typed, immutable value per `user_profiles` row.

Rules take a `Profile` and return a new one; `changed_fields` turns the difference into the
`$set` the handler writes, so a message that changes two fields writes two fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.sms_worker.domain.assessments import AssessmentSession, Band
from services.sms_worker.domain.instruments import Zone
from services.sms_worker.domain.onboarding import OnboardingState

JourneyPhase = Literal["onboarding", "active", "churned"]
CheckinPreference = Literal["daily", "weekly"]


class Profile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    user_id: str
    first_name: str | None = None
    # Who the care recipient is to the caregiver ("mom", "husband", or their own words).
    relationship: str | None = None
    care_recipient_name: str | None = None
    zip_code: str | None = None
    timezone: str
    language: str = "en"
    journey_phase: JourneyPhase = "onboarding"
    burnout_score: float | None = None
    burnout_band: Band | None = None
    burnout_confidence: float | None = None
    pressure_zones: tuple[Zone, ...] = ()
    zone_scores: dict[str, float] = Field(default_factory=dict)
    last_contact_at: datetime | None = None
    last_proactive_message_at: datetime | None = None
    last_crisis_event_at: datetime | None = None
    crisis_followup_count: int = 0
    reactivation_message_count: int = 0
    onboarding: OnboardingState = Field(default_factory=OnboardingState)
    assessment: AssessmentSession | None = None
    # The instrument a "yes" would start (offered after onboarding).
    assessment_offer: str | None = None
    assessments_completed_at: dict[str, datetime] = Field(default_factory=dict)
    sms_opt_out: bool = False
    opted_out_at: datetime | None = None
    # When the opt-out state last changed, so an older event never overrides a newer one.
    opt_out_changed_at: datetime | None = None
    checkin_preference: CheckinPreference | None = None
    snooze_until: datetime | None = None
    # Local dates (ISO) on which the once-a-day notices went out.
    rate_limit_notice_on: str | None = None
    subscription_notice_on: str | None = None
    # Bumped by every applied inbound message: the optimistic-concurrency check.
    version: int = 0


def profile_document(profile: Profile) -> dict[str, Any]:
    return profile.model_dump(mode="python")


def changed_fields(before: Profile, after: Profile) -> dict[str, Any]:
    """Top-level fields of `after` that differ from `before`, as stored."""
    old, new = profile_document(before), profile_document(after)
    return {name: value for name, value in new.items() if old.get(name) != value}
