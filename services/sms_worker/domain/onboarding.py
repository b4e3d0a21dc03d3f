"""Onboarding by SMS: first name → relationship → care recipient's name → ZIP code.

Each answer is pulled out of ordinary replies ("I'm Ana", "my mom", "it's 02139"). A field gets
at most `max_attempts` unusable answers; then onboarding rests for a cooldown (the responder
talks meanwhile) and asks again afterwards. Pure functions of (state, text, time).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from services.sms_worker.domain import replies
from services.sms_worker.domain.keywords import is_reserved_word


class Field(StrEnum):
    FIRST_NAME = "first_name"
    RELATIONSHIP = "relationship"
    CARE_RECIPIENT_NAME = "care_recipient_name"
    ZIP_CODE = "zip_code"


FIELDS = (Field.FIRST_NAME, Field.RELATIONSHIP, Field.CARE_RECIPIENT_NAME, Field.ZIP_CODE)


class OnboardingState(BaseModel):
    """Where a user is in onboarding; kept on the profile."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    field: Field = Field.FIRST_NAME
    attempts: int = 0
    # Whether the question for `field` has been asked, so the next message is its answer.
    asked: bool = False
    cooldown_until: datetime | None = None


@dataclass(frozen=True)
class OnboardingStep:
    """The outcome of one message: the next state (None when complete), what was captured."""

    state: OnboardingState | None
    reply: str
    captured: dict[Field, str] = field(default_factory=dict)

    @property
    def completed(self) -> bool:
        return self.state is None


# --- extraction ----------------------------------------------------------------------------------

# Who the care recipient is to the caregiver, as people say it → how we say it back.
RELATIONSHIPS: dict[str, str] = {
    "mom": "mom",
    "mother": "mom",
    "mum": "mom",
    "mama": "mom",
    "dad": "dad",
    "father": "dad",
    "papa": "dad",
    "husband": "husband",
    "wife": "wife",
    "spouse": "spouse",
    "partner": "partner",
    "son": "son",
    "daughter": "daughter",
    "child": "child",
    "kid": "child",
    "grandma": "grandma",
    "grandmother": "grandma",
    "grandpa": "grandpa",
    "grandfather": "grandpa",
    "brother": "brother",
    "sister": "sister",
    "aunt": "aunt",
    "uncle": "uncle",
    "friend": "friend",
    "neighbor": "neighbor",
    "neighbour": "neighbor",
    "mother in law": "mother-in-law",
    "father in law": "father-in-law",
}
_RELATIONSHIP_PATTERN = re.compile(
    r"\b("
    + "|".join(sorted((re.escape(k) for k in RELATIONSHIPS), key=len, reverse=True))
    + r")s?\b"
)
_NAME_PREFIXES = re.compile(
    r"^(hi|hey|hello)?[\s,!.]*"
    r"(my name is|my names|name is|names|i am|im|i'm|it's|its|this is|call me|"
    r"her name is|his name is|their name is|she is|shes|she's|he is|hes|he's|they are|"
    r"my (?:mom|mother|dad|father|husband|wife|partner|son|daughter|grandma|grandpa)(?: is|s|'s)?)?"
    r"\s*",
    re.IGNORECASE,
)
_NOT_NAMES = frozenset(
    {"hi", "hey", "hello", "yes", "no", "ok", "okay", "sure", "thanks", "thank", "what", "why"}
)
# ASCII digits: `\d` also matches "١٢٣٤٥", which is no ZIP code and crashes the ZIP database.
_ZIP = re.compile(r"(?<!\d)(\d{5})(?:-\d{4})?(?!\d)", re.ASCII)
_MAX_NAME_CHARS = 40


def _is_name_word(word: str) -> bool:
    """Letters of any script, with apostrophes, dots and hyphens after the first (`O'Brien`,
    `Jean-Luc`); the regex class "word character but not a digit" also took "¹" for a letter."""
    return word[:1].isalpha() and all(c.isalpha() or c in "'.-" for c in word)


def _tidy_name(word: str) -> str:
    return word[:1].upper() + word[1:].lower() if word.islower() or word.isupper() else word


def extract_name(text: str) -> str | None:
    """A person's name from "Ana", "I'm Ana", "her name is Rose", or None."""
    candidate = _NAME_PREFIXES.sub("", text.strip(), count=1).strip(" .!,")
    words = candidate.split()
    if not 1 <= len(words) <= 3 or len(candidate) > _MAX_NAME_CHARS:
        return None
    if is_reserved_word(candidate) or words[0].lower() in _NOT_NAMES:
        return None
    if candidate.lower() in RELATIONSHIPS or not all(_is_name_word(w) for w in words):
        return None
    return " ".join(_tidy_name(word) for word in words)


def extract_relationship(text: str) -> str | None:
    """Who the care recipient is: a known word ("my mother" → "mom") or a short description."""
    lowered = re.sub(r"\s+", " ", text.lower().replace("-", " ")).strip(" .!,")
    match = _RELATIONSHIP_PATTERN.search(lowered)
    if match:
        return RELATIONSHIPS[match.group(1)]
    words = lowered.removeprefix("my ").split()
    if not 1 <= len(words) <= 4 or len(lowered) > _MAX_NAME_CHARS or is_reserved_word(text):
        return None
    if words[0] in _NOT_NAMES or not all(_is_name_word(w) for w in words):
        return None
    relationship = " ".join(words)
    # "my stop" is not somebody: a keyword never becomes profile data.
    return None if is_reserved_word(relationship) else relationship


def extract_zip(text: str) -> str | None:
    """The 5-digit ZIP code in `text` (ZIP+4 accepted), or None."""
    match = _ZIP.search(text)
    if match is None or match.group(1) == "00000":
        return None
    return match.group(1)


_EXTRACTORS = {
    Field.FIRST_NAME: extract_name,
    Field.RELATIONSHIP: extract_relationship,
    Field.CARE_RECIPIENT_NAME: extract_name,
    Field.ZIP_CODE: extract_zip,
}


# --- the state machine ---------------------------------------------------------------------------


def question(onboarding_field: Field, known: dict[Field, str]) -> str:
    """The question for `onboarding_field`, using what the user already told us."""
    if onboarding_field is Field.FIRST_NAME:
        return replies.WELCOME
    if onboarding_field is Field.RELATIONSHIP:
        return replies.ask_relationship(known.get(Field.FIRST_NAME, "friend"))
    if onboarding_field is Field.CARE_RECIPIENT_NAME:
        relationship = known.get(Field.RELATIONSHIP)
        if relationship is not None and relationship in RELATIONSHIPS.values():
            return replies.ask_care_recipient_name(relationship)
        return "What's the first name of the person you care for?"
    return replies.ask_zip()


def advance(
    state: OnboardingState,
    text: str,
    *,
    known: dict[Field, str],
    at: datetime,
    max_attempts: int,
    cooldown: timedelta,
) -> OnboardingStep | None:
    """Handle one message during onboarding; None while resting (someone else answers)."""
    if state.cooldown_until is not None:
        if at < state.cooldown_until:
            return None
        state = OnboardingState(field=state.field)
    if not state.asked:
        # The first message (usually "hi") is not an answer: ask.
        asked = state.model_copy(update={"asked": True})
        return OnboardingStep(asked, question(state.field, known))
    value = _EXTRACTORS[state.field](text)
    if value is None:
        attempts = state.attempts + 1
        if attempts >= max_attempts:
            resting = OnboardingState(field=state.field, cooldown_until=at + cooldown)
            return OnboardingStep(resting, replies.ONBOARDING_COOLDOWN)
        retry = state.model_copy(update={"attempts": attempts})
        return OnboardingStep(retry, replies.retry_field(question(state.field, known)))
    captured = {state.field: value}
    position = FIELDS.index(state.field)
    if position + 1 == len(FIELDS):
        return OnboardingStep(None, "", captured)
    following = FIELDS[position + 1]
    next_state = OnboardingState(field=following, asked=True)
    return OnboardingStep(next_state, question(following, {**known, **captured}), captured)
