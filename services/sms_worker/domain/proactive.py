"""Proactive messages, the SMS worker's half: re-check the user, then choose the words.

The scheduler decided *when* from its read model, which lags the profile; here the premises it
decided on are checked again against the profile as it is now, and the text is composed from
`proactive_messages.json`, wording kept as data. Pure functions, no I/O.
"""

from __future__ import annotations

import functools
import json
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, TypeAdapter, field_validator

from domain.proactive_policy import (
    CRISIS_FOLLOWUP_DAYS,
    REACTIVATION_SILENCE_DAYS,
    checkin_cadence,
    in_window,
    stage_delay,
)
from services.sms_worker.domain.profile import Profile
from services.sms_worker.domain.replies import SMS_SEGMENT

ProactiveKind = Literal["crisis_followup", "reactivation", "checkin"]
KINDS: tuple[ProactiveKind, ...] = get_args(ProactiveKind)
TEMPLATES_FILE = Path(__file__).with_name("proactive_messages.json")
NAME_FIELD = "first_name"


class Suppression(StrEnum):
    """Why a due proactive message was not sent."""

    UNKNOWN_USER = "unknown_user"
    OPTED_OUT = "opted_out"
    NOT_ACTIVE = "not_active"
    NO_ACCESS = "no_access"
    # The user wrote within the window that makes this message pointless.
    RECENT_CONTACT = "recent_contact"
    SNOOZED = "snoozed"
    CHECKINS_OFF = "checkins_off"
    # A crisis newer than the one this follow-up stage belongs to.
    NEWER_CRISIS = "newer_crisis"


class Deferral(StrEnum):
    """Why a due proactive message that may still be sent cannot be sent now. The scheduler
    is told (`proactive.message.deferred`) and decides again in the recipient's next window."""

    # Consumed outside the recipient's local sending window (it waited in the queue).
    OUTSIDE_WINDOW = "outside_window"
    # Consumed more than the maximum delay after it fell due (worker down, a replayed dead
    # letter): decided on facts too old to send as it is.
    LATE = "late"


@dataclass(frozen=True)
class Due:
    """A `proactive.message.due`, as the rules see it."""

    kind: ProactiveKind
    stage: int
    due_at: datetime


# --- the words ---------------------------------------------------------------------------------


class UnknownTemplate(LookupError):
    """No text for this kind and stage: the event asks for something we cannot say."""


class Texts(BaseModel):
    """One stage's text with the first name, and without it (no name, or too long to fit)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    named: str
    anonymous: str

    @field_validator("named")
    @classmethod
    def _names_the_user(cls, value: str) -> str:
        if _fields(value) != {NAME_FIELD}:
            raise ValueError(f"needs exactly the placeholder {{{NAME_FIELD}}}")
        return value

    @field_validator("anonymous")
    @classmethod
    def _fits_without_name(cls, value: str) -> str:
        if _fields(value):
            raise ValueError("takes no placeholder")
        if len(value) > SMS_SEGMENT:
            raise ValueError(f"longer than {SMS_SEGMENT} characters")
        return value


Templates = dict[ProactiveKind, dict[int, Texts]]
_TEMPLATES = TypeAdapter(Templates)


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def parse_templates(text: str) -> Templates:
    """Validate a templates document: known kinds, integer stages, sound placeholders."""
    return _TEMPLATES.validate_python(json.loads(text))


@functools.cache
def templates() -> Templates:
    return parse_templates(TEMPLATES_FILE.read_text(encoding="utf-8"))


def stages(kind: ProactiveKind) -> tuple[int, ...]:
    return tuple(sorted(templates().get(kind, {})))


def compose(kind: ProactiveKind, stage: int, first_name: str | None) -> str:
    """The text for `kind` at `stage`, with the first name when it fits one SMS segment."""
    texts = templates().get(kind, {}).get(stage)
    if texts is None:
        raise UnknownTemplate(f"no proactive text for {kind} stage {stage}")
    name = (first_name or "").strip()
    if name:
        # The name is the user's own text: substituted as a value, never parsed as a template.
        named = texts.named.format_map({NAME_FIELD: name})
        if len(named) <= SMS_SEGMENT:
            return named
    return texts.anonymous


# --- the re-check ------------------------------------------------------------------------------


def _wrote_since(profile: Profile, moment: datetime) -> bool:
    return profile.last_contact_at is not None and profile.last_contact_at > moment


def suppression(
    profile: Profile | None,
    due: Due,
    *,
    now: datetime,
    max_delay: timedelta,
    has_access: bool | None,
) -> Suppression | None:
    """Why this message must not go out at all, or None when its premises still hold (then
    `deferral` says whether it can go out now).

    `has_access` is None when the subscription gate is off. The premises are judged at `due_at`,
    the moment the scheduler decided for.
    """
    if profile is None:
        return Suppression.UNKNOWN_USER
    if profile.sms_opt_out:
        return Suppression.OPTED_OUT
    if profile.journey_phase != "active":
        return Suppression.NOT_ACTIVE
    if has_access is False:
        return Suppression.NO_ACCESS
    if due.kind == "checkin":
        return _checkin_suppression(profile, due)
    if due.kind == "reactivation":
        # The stage's premise: silent for at least its number of days when it fell due.
        silence = stage_delay(REACTIVATION_SILENCE_DAYS, due.stage)
        if silence is not None and _wrote_since(profile, due.due_at - silence):
            return Suppression.RECENT_CONTACT
        return None
    # A crisis follow-up stage falls due its number of days after the crisis; a crisis later
    # than that is a new one, whose cascade starts again from its first stage.
    after = stage_delay(CRISIS_FOLLOWUP_DAYS, due.stage)
    crisis = profile.last_crisis_event_at
    if after is not None and crisis is not None and crisis > due.due_at - after:
        return Suppression.NEWER_CRISIS
    return None


def deferral(due: Due, *, now: datetime, max_delay: timedelta, timezone: str) -> Deferral | None:
    """Why a message whose premises hold cannot be sent now, or None to send it.

    The scheduler emits only inside the recipient's local window; the event may still be
    consumed after the window closed, or long after it fell due. It is judged when it is sent,
    never before it fell due: a `due_at` ahead of this clock (clock skew, or the scheduler's
    SCHEDULER_DEV_CLOCK_START) was already checked by the scheduler.
    """
    if now - due.due_at > max_delay:
        return Deferral.LATE
    if not in_window(max(now, due.due_at), timezone):
        return Deferral.OUTSIDE_WINDOW
    return None


def _checkin_suppression(profile: Profile, due: Due) -> Suppression | None:
    if profile.snooze_until is not None and profile.snooze_until > due.due_at:
        return Suppression.SNOOZED
    band = profile.burnout_band.value if profile.burnout_band else None
    cadence = checkin_cadence(
        band, profile.last_crisis_event_at, profile.checkin_preference, due.due_at
    )
    if cadence is None:
        return Suppression.CHECKINS_OFF
    if _wrote_since(profile, due.due_at - cadence.recent_contact):
        return Suppression.RECENT_CONTACT
    return None


def check_templates() -> None:
    """Every follow-up and reactivation stage of the policy has its words (a stage is never
    sent blank): checked when the consumer starts."""
    staged: tuple[tuple[ProactiveKind, tuple[int, ...]], ...] = (
        ("crisis_followup", CRISIS_FOLLOWUP_DAYS),
        ("reactivation", REACTIVATION_SILENCE_DAYS),
    )
    for kind, days in staged:
        if stages(kind) != tuple(range(1, len(days) + 1)):
            raise ValueError(f"{kind}: {len(days)} stages, texts for {list(stages(kind))}")


# --- what sending changes ----------------------------------------------------------------------


def record_sent(profile: Profile, due: Due, at: datetime) -> Profile:
    """The profile after this message was requested at `at`; stage counters never go back."""
    changes: dict[str, object] = {"last_proactive_message_at": at}
    if due.kind == "crisis_followup":
        changes["crisis_followup_count"] = max(profile.crisis_followup_count, due.stage)
    elif due.kind == "reactivation":
        changes["reactivation_message_count"] = max(profile.reactivation_message_count, due.stage)
    return profile.model_copy(update=changes)


class ChurnOutcome(StrEnum):
    CHURNED = "churned"
    ALREADY_CHURNED = "already_churned"
    # The user wrote after our last proactive message: the scheduler's silence is stale.
    REPLIED = "replied"
    NOT_ACTIVE = "not_active"


def churn(profile: Profile) -> ChurnOutcome:
    """Whether `user.churned` still applies to the profile as it is now."""
    if profile.journey_phase == "churned":
        return ChurnOutcome.ALREADY_CHURNED
    if profile.journey_phase != "active":
        return ChurnOutcome.NOT_ACTIVE
    last_sent, last_contact = profile.last_proactive_message_at, profile.last_contact_at
    if last_sent is not None and last_contact is not None and last_contact > last_sent:
        return ChurnOutcome.REPLIED
    return ChurnOutcome.CHURNED
