"""The proactive texts: every kind and stage has words, fits one SMS with or without a name,
stays supportive (988 in every crisis follow-up, no medical advice), and bad data is refused."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from domain.proactive_policy import CRISIS_FOLLOWUP_DAYS, REACTIVATION_SILENCE_DAYS
from services.sms_worker.domain import proactive
from services.sms_worker.domain.proactive import (
    KINDS,
    ProactiveKind,
    UnknownTemplate,
    check_templates,
    compose,
    parse_templates,
    stages,
    templates,
)
from services.sms_worker.domain.replies import SMS_SEGMENT

# About as long as a first name onboarding accepts (at most 40 characters).
LONGEST_NAME = "Maximiliana Theodora Wilhelmina Augusta"
EVERY_STAGE = [(kind, stage) for kind in KINDS for stage in stages(kind)]
# Words that would turn support into medical advice.
MEDICAL = re.compile(r"\b(medic\w*|dos(e|age)\w*|diagnos\w*|prescri\w*|pills?|therap\w*)\b", re.I)


def test_every_kind_has_the_stages_the_rules_send() -> None:
    assert stages("crisis_followup") == tuple(range(1, len(CRISIS_FOLLOWUP_DAYS) + 1))
    assert stages("reactivation") == tuple(range(1, len(REACTIVATION_SILENCE_DAYS) + 1))
    assert stages("checkin") == (0,)


@pytest.mark.parametrize(("kind", "stage"), EVERY_STAGE)
@pytest.mark.parametrize("first_name", [None, "", "   ", "Ana", "Maximiliana Th", LONGEST_NAME])
def test_every_stage_fits_one_segment(
    kind: ProactiveKind, stage: int, first_name: str | None
) -> None:
    text = compose(kind, stage, first_name)
    assert 0 < len(text) <= SMS_SEGMENT
    assert "{" not in text
    assert not MEDICAL.search(text)


@pytest.mark.parametrize(("kind", "stage"), EVERY_STAGE)
def test_the_first_name_is_used_when_there_is_one(kind: ProactiveKind, stage: int) -> None:
    assert "Ana" in compose(kind, stage, " Ana ")
    assert compose(kind, stage, None) == templates()[kind][stage].anonymous


def test_a_name_too_long_for_one_segment_falls_back_to_the_text_without_it() -> None:
    texts = templates()["crisis_followup"][1]
    assert len(texts.named.format(first_name=LONGEST_NAME)) > SMS_SEGMENT
    assert compose("crisis_followup", 1, LONGEST_NAME) == texts.anonymous


def test_a_name_is_a_value_never_a_template() -> None:
    assert "{first_name}" in compose("checkin", 0, "{first_name}")


@pytest.mark.parametrize("stage", stages("crisis_followup"))
def test_crisis_followups_offer_988(stage: int) -> None:
    assert "988" in compose("crisis_followup", stage, "Ana")
    assert "988" in compose("crisis_followup", stage, None)


@pytest.mark.parametrize(
    ("kind", "stage"), [("crisis_followup", 0), ("crisis_followup", 8), ("reactivation", 4)]
)
def test_a_stage_without_words_is_refused(kind: ProactiveKind, stage: int) -> None:
    with pytest.raises(UnknownTemplate):
        compose(kind, stage, "Ana")


@pytest.mark.parametrize(
    "document",
    [
        '{"nudge": {"1": {"named": "Hi {first_name}", "anonymous": "Hi"}}}',
        '{"checkin": {"one": {"named": "Hi {first_name}", "anonymous": "Hi"}}}',
        '{"checkin": {"0": {"named": "Hi there", "anonymous": "Hi"}}}',
        '{"checkin": {"0": {"named": "Hi {name}", "anonymous": "Hi"}}}',
        '{"checkin": {"0": {"named": "Hi {first_name}", "anonymous": "Hi {first_name}"}}}',
        '{"checkin": {"0": {"named": "Hi {first_name}", "anonymous": "' + "x" * 161 + '"}}}',
        '{"checkin": {"0": {"named": "Hi {first_name}"}}}',
    ],
    ids=[
        "unknown kind",
        "stage not a number",
        "named without the name",
        "other placeholder",
        "anonymous with a placeholder",
        "anonymous too long",
        "anonymous missing",
    ],
)
def test_bad_template_data_is_refused(document: str) -> None:
    with pytest.raises(ValidationError):
        parse_templates(document)


def test_every_stage_of_the_policy_has_its_words() -> None:
    check_templates()


def test_a_stage_without_words_stops_the_consumer_from_starting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shipped = proactive.templates()
    fewer = {**shipped, "reactivation": {1: shipped["reactivation"][1]}}
    monkeypatch.setattr(proactive, "templates", lambda: fewer)
    with pytest.raises(ValueError, match="reactivation: 3 stages"):
        check_templates()
