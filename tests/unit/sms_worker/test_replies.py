"""Fixed texts fit one SMS with long names filled in; the rules responder stays short and kind."""

from __future__ import annotations

import pytest

from services.sms_worker.domain import replies
from services.sms_worker.domain.instruments import BSFC_S, Zone
from services.sms_worker.domain.keywords import Command
from services.sms_worker.domain.responder import ResponderContext, RulesResponder, fit_sms
from services.sms_worker.llm_responder import load_system_prompt
from services.sms_worker.safety.lexicon import Severity
from shared.config import LinkSettings

LONG_NAME = "Maximiliana Th"
URLS = {"signup_url": LinkSettings().signup_url, "billing_url": LinkSettings().billing_url}


def _all_texts() -> list[str]:
    return [
        replies.OPT_OUT_CONFIRMATION,
        replies.OPT_IN_CONFIRMATION,
        replies.HELP_TEXT,
        replies.CRISIS_REPLY,
        replies.CRISIS_REPLY_DOMESTIC_VIOLENCE,
        replies.RATE_LIMIT_NOTICE,
        *replies.CHECKIN_REPLIES.values(),
        *(replies.subscription_gate(s, **URLS) for s in (None, "unpaid", "canceled")),
        replies.WELCOME,
        replies.ask_relationship(LONG_NAME),
        replies.ask_care_recipient_name("mother-in-law"),
        replies.ask_zip(),
        replies.retry_field(replies.ask_zip()),
        replies.retry_field(replies.ask_relationship(LONG_NAME)),
        replies.ONBOARDING_COOLDOWN,
        replies.onboarding_complete(LONG_NAME, replies.offer_assessment(BSFC_S.minutes)),
        replies.ASSESSMENT_CANCELLED,
        replies.ASSESSMENT_EXPIRED,
        replies.ASSESSMENT_UNSCORED,
        replies.assessment_too_soon(BSFC_S.name, 7),
        replies.assessment_result(100, "thriving", "emotional wellbeing"),
    ]


@pytest.mark.parametrize("text", _all_texts())
def test_fixed_texts_fit_one_segment(text: str) -> None:
    assert 0 < len(text) <= replies.SMS_SEGMENT


def test_crisis_texts_carry_every_resource() -> None:
    for text in (replies.CRISIS_REPLY, replies.CRISIS_REPLY_DOMESTIC_VIOLENCE):
        assert "988" in text
        assert "741741" in text
        assert "911" in text
    assert "1-800-799-7233" in replies.crisis_reply(domestic_violence=True)
    assert "1-800-799-7233" not in replies.crisis_reply(domestic_violence=False)


def test_every_checkin_command_has_a_reply() -> None:
    checkins = {Command.CHECKIN_DAILY, Command.CHECKIN_WEEKLY, Command.PAUSE, Command.RESUME}
    assert set(replies.CHECKIN_REPLIES) == checkins


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Short.", 160, "Short."),
        ("  spaced\n\nout   text ", 160, "spaced out text"),
        ("First sentence here. Second one runs long past the end.", 30, "First sentence here."),
        ("one two three four five six seven", 20, "one two three four…"),
        ("x" * 50, 20, "x" * 19 + "…"),
    ],
)
def test_fit_sms(text: str, limit: int, expected: str) -> None:
    fitted = fit_sms(text, limit)
    assert fitted == expected
    assert len(fitted) <= limit


@pytest.mark.parametrize("zones", [(), *((zone,) for zone in Zone)])
@pytest.mark.parametrize("severity", [None, Severity.MEDIUM])
@pytest.mark.parametrize("seed", ["a", "b", "c", "d", "e", "f"])
def test_rules_responder_is_short_and_personal(
    zones: tuple[Zone, ...], severity: Severity | None, seed: str
) -> None:
    context = ResponderContext(
        message="hard day",
        seed=seed,
        first_name=LONG_NAME,
        pressure_zones=zones,
        crisis_severity=severity,
    )
    reply = RulesResponder().compose(context)
    assert reply.source == "rules"
    assert reply.text.startswith(LONG_NAME)
    assert len(reply.text) <= 160
    if severity is not None:
        assert "988" in reply.text


def test_rules_responder_is_deterministic_and_works_without_a_name() -> None:
    context = ResponderContext(message="hi", seed="event-1")
    first, second = RulesResponder().compose(context), RulesResponder().compose(context)
    assert first == second
    assert first.text[0].isupper()


def test_system_prompt_is_shipped_with_the_package() -> None:
    prompt = load_system_prompt()
    assert "160 characters" in prompt
    assert "988" in prompt
