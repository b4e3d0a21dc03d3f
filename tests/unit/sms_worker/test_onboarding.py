"""Onboarding: field extraction from ordinary replies, and the attempts/cooldown state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.sms_worker.domain import replies
from services.sms_worker.domain.onboarding import (
    Field,
    OnboardingState,
    advance,
    extract_name,
    extract_relationship,
    extract_zip,
)

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
COOLDOWN = timedelta(hours=24)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Ana", "Ana"),
        ("ana", "Ana"),
        ("MARIA", "Maria"),
        ("I'm Ana", "Ana"),
        ("im ana", "Ana"),
        ("My name is Mary Ann", "Mary Ann"),
        ("hi, it's José", "José"),
        ("Call me DJ.", "Dj"),
        ("Her name is Rose", "Rose"),
        ("my mom is Rose", "Rose"),
        ("Jean-Luc", "Jean-Luc"),
        ("O'Brien", "O'Brien"),
        ("McKenzie", "McKenzie"),
        ("this is Li", "Li"),
    ],
)
def test_names_are_found_in_replies(text: str, name: str) -> None:
    assert extract_name(text) == name


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hi",
        "Hello!",
        "yes",
        "STOP",
        "help",
        "12345",
        "R2D2",
        "why do you need that?",
        "I would rather not say that right now",
        "mom",
        "a" * 41,
    ],
)
def test_non_names_are_refused(text: str) -> None:
    assert extract_name(text) is None


@pytest.mark.parametrize(
    ("text", "relationship"),
    [
        ("my mom", "mom"),
        ("Mother", "mom"),
        ("I take care of my dad", "dad"),
        ("husband", "husband"),
        ("my wife of 40 years", "wife"),
        ("my mother-in-law", "mother-in-law"),
        ("Both my parents, mostly my father", "dad"),
        ("grandma", "grandma"),
        ("my neighbour", "neighbor"),
        ("my sons", "son"),
        ("my godmother", "godmother"),
        ("a close cousin", "a close cousin"),
    ],
)
def test_relationships(text: str, relationship: str) -> None:
    assert extract_relationship(text) == relationship


@pytest.mark.parametrize(
    "text", ["", "12", "STOP", "yes", "it is complicated and I would rather not"]
)
def test_unusable_relationships(text: str) -> None:
    assert extract_relationship(text) is None


@pytest.mark.parametrize(
    ("text", "zip_code"),
    [
        ("02139", "02139"),
        ("it's 94110", "94110"),
        ("94110-1234", "94110"),
        ("zip 10001 thanks", "10001"),
    ],
)
def test_zip_codes(text: str, zip_code: str) -> None:
    assert extract_zip(text) == zip_code


@pytest.mark.parametrize("text", ["", "Boston", "1234", "123456", "00000", "555-123-4567"])
def test_unusable_zip_codes(text: str) -> None:
    assert extract_zip(text) is None


def test_first_message_is_a_greeting_not_an_answer() -> None:
    step = advance(OnboardingState(), "hi", known={}, at=AT, max_attempts=2, cooldown=COOLDOWN)
    assert step is not None
    assert step.reply == replies.WELCOME
    assert step.state == OnboardingState(field=Field.FIRST_NAME, asked=True)
    assert step.captured == {}


def test_the_four_fields_in_order() -> None:
    state: OnboardingState | None = OnboardingState(asked=True)
    known: dict[Field, str] = {}
    replies_seen = []
    for text in ("Ana", "my mom", "Rose", "02139"):
        assert state is not None
        step = advance(state, text, known=known, at=AT, max_attempts=2, cooldown=COOLDOWN)
        assert step is not None
        known |= step.captured
        replies_seen.append(step.reply)
        state = step.state
    assert state is None
    assert known == {
        Field.FIRST_NAME: "Ana",
        Field.RELATIONSHIP: "mom",
        Field.CARE_RECIPIENT_NAME: "Rose",
        Field.ZIP_CODE: "02139",
    }
    assert replies_seen[0] == replies.ask_relationship("Ana")
    assert replies_seen[1] == replies.ask_care_recipient_name("mom")
    assert replies_seen[2] == replies.ask_zip()


def test_two_unusable_answers_start_a_cooldown_then_the_question_returns() -> None:
    state = OnboardingState(field=Field.ZIP_CODE, asked=True)
    first = advance(state, "Boston", known={}, at=AT, max_attempts=2, cooldown=COOLDOWN)
    assert first is not None
    assert first.state is not None
    assert first.state.attempts == 1
    assert first.reply == replies.retry_field(replies.ask_zip())
    second = advance(first.state, "no", known={}, at=AT, max_attempts=2, cooldown=COOLDOWN)
    assert second is not None
    assert second.state is not None
    assert second.reply == replies.ONBOARDING_COOLDOWN
    assert second.state.cooldown_until == AT + COOLDOWN
    assert not second.state.asked
    # Resting: onboarding stays out of the way (the responder answers).
    just_before = AT + COOLDOWN - timedelta(seconds=1)
    resting = advance(
        second.state, "hello", known={}, at=just_before, max_attempts=2, cooldown=COOLDOWN
    )
    assert resting is None
    # After the cooldown the question is asked again, with fresh attempts.
    again = advance(
        second.state, "hello", known={}, at=AT + COOLDOWN, max_attempts=2, cooldown=COOLDOWN
    )
    assert again is not None
    assert again.state == OnboardingState(field=Field.ZIP_CODE, asked=True)
    assert again.reply == replies.ask_zip()


def test_a_good_answer_after_one_bad_one_resets_attempts() -> None:
    state = OnboardingState(field=Field.FIRST_NAME, asked=True, attempts=1)
    step = advance(state, "Ana", known={}, at=AT, max_attempts=2, cooldown=COOLDOWN)
    assert step is not None
    assert step.state == OnboardingState(field=Field.RELATIONSHIP, asked=True)


def test_unknown_relationship_gets_a_neutral_name_question() -> None:
    state = OnboardingState(field=Field.RELATIONSHIP, asked=True)
    step = advance(state, "my godmother", known={}, at=AT, max_attempts=2, cooldown=COOLDOWN)
    assert step is not None
    assert step.reply == "What's the first name of the person you care for?"
