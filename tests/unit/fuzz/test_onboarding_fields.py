"""Onboarding answers: whatever a caregiver types, each field is a usable value or nothing, and
the attempts/cooldown machine never gets stuck or skips a field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.sms_worker.domain.keywords import is_reserved_word
from services.sms_worker.domain.onboarding import (
    FIELDS,
    RELATIONSHIPS,
    Field,
    OnboardingState,
    advance,
    extract_name,
    extract_relationship,
    extract_zip,
)
from shared.timezones import timezone_for_zip
from tests.support.fuzzing import fuzz_settings, hostile_text, words_and_noise

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
DEFAULT_ZONE = "America/New_York"
answers = (
    words_and_noise(
        "I'm",
        "my name is",
        "Ana",
        "Rose",
        "José",
        "my mom",
        "mother in law",
        "STOP",
        "help",
        "hi",
        "02139",
        "90210-1234",
        "00000",
        "123456",
        "it's",
    )
    | hostile_text
)
# Decimal digits of other scripts (Arabic-Indic, full-width, Devanagari): `\d` matches them,
# the ZIP database does not read them.
OTHER_DIGITS = "\u0660\u0661\u0662\u0663\u0669\uff10\uff11\uff12\u096d"
zip_like = st.text(st.sampled_from("0123456789- " + OTHER_DIGITS), min_size=5, max_size=12)


@fuzz_settings(150)
@given(answers)
def test_a_name_is_one_to_three_words_of_letters_and_never_a_keyword(text: str) -> None:
    name = extract_name(text)
    if name is not None:
        assert 1 <= len(name.split()) <= 3
        assert not any(character.isdigit() for character in name)
        assert not is_reserved_word(name)


@fuzz_settings(120)
@given(answers)
def test_a_relationship_is_a_known_one_or_a_few_words(text: str) -> None:
    relationship = extract_relationship(text)
    if relationship is not None and relationship not in RELATIONSHIPS.values():
        assert 1 <= len(relationship.split()) <= 4
        assert not is_reserved_word(relationship)


@fuzz_settings(150)
@given(answers | zip_like)
def test_a_zip_is_five_ascii_digits_from_the_message_and_always_has_a_timezone(text: str) -> None:
    zip_code = extract_zip(text)
    if zip_code is not None:
        assert zip_code.isascii()
        assert zip_code.isdigit()
        assert len(zip_code) == 5
        assert zip_code in text
        assert zip_code != "00000"
        assert timezone_for_zip(zip_code, DEFAULT_ZONE)
    # Whatever reaches the ZIP database, it answers a zone (it panics on non-ASCII digits).
    assert timezone_for_zip(text, DEFAULT_ZONE)


@st.composite
def states(draw: st.DrawFn) -> OnboardingState:
    cooling = draw(st.booleans())
    return OnboardingState(
        field=draw(st.sampled_from(FIELDS)),
        attempts=draw(st.integers(0, 1)),
        asked=draw(st.booleans()),
        cooldown_until=AT + draw(st.timedeltas(timedelta(hours=-2), timedelta(hours=2)))
        if cooling
        else None,
    )


@fuzz_settings(150)
@given(states(), answers)
def test_one_message_captures_the_asked_field_or_counts_an_attempt(
    state: OnboardingState, text: str
) -> None:
    step = advance(state, text, known={}, at=AT, max_attempts=2, cooldown=timedelta(hours=24))
    if step is None:  # resting: the responder answers meanwhile
        assert state.cooldown_until is not None
        assert state.cooldown_until > AT
        return
    assert step.reply or step.completed
    assert set(step.captured) <= {state.field}
    if step.completed:
        assert step.captured
        assert state.field is Field.ZIP_CODE
    elif step.captured:
        assert step.state is not None
        assert step.state.field is FIELDS[FIELDS.index(state.field) + 1]
        assert step.state.attempts == 0
    else:
        assert step.state is not None
        assert step.state.field is state.field
        assert step.state.attempts < 2
