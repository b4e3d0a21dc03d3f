"""The safety screen through the whole running system (issue 15): crisis language and free-text
revocation in signed Twilio webhooks, the replies as the fake Twilio received them.

High-severity language gets the crisis resources and nothing else, even from a new number;
medium gets a supportive text naming 988 and the conversation goes on; a revocation carrying
crisis language is opted out with the resources in its one confirmation; crisis language after
STOP gets no text but an alert for a person; look-alikes never opt out; an unclear revocation
gets one question and no opt-out.

Each test has phone numbers of its own. A medium message's two replies are requested together
and the sender does not order sends to one number, so those are compared without order. A
medium first message's two texts do not always both arrive (a sender race, marked below).
"""

from __future__ import annotations

import json

import pytest

from services.sms_worker.domain import replies
from shared.events.catalog import SmsOutboundRequested
from shared.mongo import Document
from tests.support.system import REPLY_TIMEOUT, System
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

HIGH_FIRST = "+15555550301"
MEDIUM_FIRST = "+15555550302"
MEDIUM_FIRST_DELIVERED = "+15555550310"
MEDIUM_UNANSWERED = "+15555550303"
MEDIUM_WITH_ANSWER = "+15555550304"
REVOKED_IN_CRISIS = "+15555550305"
STOPPED_THEN_CRISIS = "+15555550306"
NEGATED_LOOK_ALIKE = "+15555550307"
THIRD_PARTY_LOOK_ALIKE = "+15555550308"
UNCLEAR_REVOCATION = "+15555550309"

HIGH_TEXT = "nobody would miss me if I was gone"
MEDIUM_TEXT = "I can't do this anymore"
REVOCATION_WITH_CRISIS = "stop texting me, I want to kill myself"


def _crisis_resources(body: str) -> bool:
    return "988" in body and "741741" in body


async def _profile(system: System, phone: str) -> Document:
    """The SMS worker's profile of the user with this phone number."""
    db = system.db("sms_worker")
    user = await db.users.find_one({"phone": phone})
    assert user is not None
    profile = await db.user_profiles.find_one({"_id": user["_id"]})
    assert profile is not None
    return profile


async def _requested(system: System, event_id: str) -> dict[str, str]:
    """The SMS requests the SMS worker committed for one inbound event: key → text."""
    rows = system.db("sms_worker").outbox.find(
        {"type": SmsOutboundRequested.EVENT_TYPE, "correlation_id": event_id}
    )
    requests = [json.loads(row["body"]) async for row in rows]
    return {r["idempotency_key"]: r["payload"]["body"] for r in requests}


async def _alerts_for(system: System, message_id: str) -> list[Document]:
    """The crisis alerts recorded for one inbound message (committed with its `messages` row)."""
    alerts = system.db("sms_worker").alerts

    async def recorded() -> list[Document] | None:
        rows: list[Document] = await alerts.find({"message_id": message_id}).to_list()
        return rows or None

    return await eventually(recorded, timeout=REPLY_TIMEOUT)


async def test_high_severity_first_message_gets_only_the_crisis_resources(system: System) -> None:
    caregiver = system.caregiver(HIGH_FIRST)
    sid = await caregiver.text(HIGH_TEXT)
    assert await caregiver.replies_to(sid) == [replies.CRISIS_REPLY]
    assert _crisis_resources(replies.CRISIS_REPLY)
    assert caregiver.inbox() == [replies.CRISIS_REPLY]  # no onboarding greeting

    message = await caregiver.handled(sid)
    [alert] = await _alerts_for(system, message["_id"])
    assert (alert["severity"], alert["needs_human_follow_up"]) == ("high", False)


async def test_medium_severity_first_message_gets_support_then_the_greeting(
    system: System,
) -> None:
    """What the SMS worker asks to send, and that the conversation goes on. Whether both texts
    reach the phone is the next test."""
    caregiver = system.caregiver(MEDIUM_FIRST)
    sid = await caregiver.text(MEDIUM_TEXT)
    message = await caregiver.handled(sid)
    event_id = message["event_id"]
    requested = await _requested(system, event_id)
    assert requested == {
        f"crisis-support:{event_id}": replies.CRISIS_SUPPORT,
        f"reply:{event_id}": replies.WELCOME,
    }
    # Both sends settled before the next message's.
    await system.delivered(list(requested))
    assert "988" in replies.CRISIS_SUPPORT
    assert "741741" not in replies.CRISIS_SUPPORT  # supportive text, not the high resources
    [alert] = await _alerts_for(system, message["_id"])
    assert (alert["severity"], alert["needs_human_follow_up"]) == ("medium", False)
    # The conversation goes on: the next message is the answer to the greeting.
    assert await caregiver.says("I'm Dana") == [replies.ask_relationship("Dana")]


# Both texts of a first message reach the phone: the sender's gate once raced on a number it
# had never texted and suppressed one of two concurrent first sends as `send_cap`
# (tests/integration/sms_sender/test_gates.py pins the fix).
async def test_medium_severity_first_message_both_texts_reach_the_phone(system: System) -> None:
    caregiver = system.caregiver(MEDIUM_FIRST_DELIVERED)
    got = await caregiver.says(MEDIUM_TEXT)
    assert sorted(got) == sorted([replies.CRISIS_SUPPORT, replies.WELCOME])
    assert sorted(caregiver.inbox()) == sorted(got)


async def test_medium_severity_after_the_greeting_gets_support_and_the_question_again(
    system: System,
) -> None:
    """No answer in the message: support, then onboarding asks for the first name again."""
    caregiver = system.caregiver(MEDIUM_UNANSWERED)
    assert await caregiver.says("hi") == [replies.WELCOME]
    got = await caregiver.says(MEDIUM_TEXT)
    assert sorted(got) == sorted([replies.CRISIS_SUPPORT, replies.retry_field(replies.WELCOME)])
    assert await caregiver.says("I'm Eve") == [replies.ask_relationship("Eve")]
    assert len(caregiver.inbox()) == 4


async def test_medium_severity_with_an_onboarding_answer_gets_support_and_the_next_question(
    system: System,
) -> None:
    caregiver = system.caregiver(MEDIUM_WITH_ANSWER)
    assert await caregiver.says("hi") == [replies.WELCOME]
    assert await caregiver.says("I'm Fay") == [replies.ask_relationship("Fay")]
    got = await caregiver.says(f"my mother. {MEDIUM_TEXT}")
    assert sorted(got) == sorted([replies.CRISIS_SUPPORT, replies.ask_care_recipient_name("mom")])
    assert await caregiver.says("Rose") == [replies.ask_zip()]
    assert len(caregiver.inbox()) == 5
    assert (await _profile(system, MEDIUM_WITH_ANSWER))["sms_opt_out"] is False


async def test_a_revocation_with_crisis_language_opts_out_with_the_resources(
    system: System,
) -> None:
    caregiver = system.caregiver(REVOKED_IN_CRISIS)
    assert await caregiver.says("hi") == [replies.WELCOME]
    sid = await caregiver.text(REVOCATION_WITH_CRISIS)
    [confirmation] = await caregiver.replies_to(sid)
    assert confirmation == replies.OPT_OUT_WITH_CRISIS
    assert _crisis_resources(confirmation)
    assert "unsubscribed" in confirmation
    assert len(confirmation) <= 320

    message = await caregiver.handled(sid)
    [alert] = await _alerts_for(system, message["_id"])
    assert alert["severity"] == "high"
    assert (await _profile(system, REVOKED_IN_CRISIS))["sms_opt_out"] is True
    # Opted out: an ordinary message gets nothing.
    assert await caregiver.says("hello? are you there?") == []
    assert caregiver.inbox() == [replies.WELCOME, replies.OPT_OUT_WITH_CRISIS]


async def test_crisis_language_after_stop_gets_no_text_but_an_alert_for_a_person(
    system: System,
) -> None:
    caregiver = system.caregiver(STOPPED_THEN_CRISIS)
    assert await caregiver.says("STOP") == [replies.OPT_OUT_CONFIRMATION]
    sid = await caregiver.text(HIGH_TEXT)
    assert await caregiver.replies_to(sid) == []

    message = await caregiver.handled(sid)
    assert message["route"] == "opted_out"
    [alert] = await _alerts_for(system, message["_id"])
    assert alert["user_id"] == message["user_id"]
    assert (alert["severity"], alert["source"], alert["status"]) == ("high", "message", "open")
    assert alert["needs_human_follow_up"] is True
    assert caregiver.inbox() == [replies.OPT_OUT_CONFIRMATION]


@pytest.mark.parametrize(
    ("phone", "look_alike"),
    [
        (NEGATED_LOOK_ALIKE, "please don't ever stop texting me"),
        (THIRD_PARTY_LOOK_ALIKE, "my brother needs to stop texting me"),
    ],
)
async def test_a_look_alike_never_opts_out(system: System, phone: str, look_alike: str) -> None:
    caregiver = system.caregiver(phone)
    # The first message of a new number: the greeting, neither a confirmation nor a question.
    assert await caregiver.says(look_alike) == [replies.WELCOME]
    assert await caregiver.says("I'm Gil") == [replies.ask_relationship("Gil")]
    assert (await _profile(system, phone))["sms_opt_out"] is False
    assert caregiver.inbox() == [replies.WELCOME, replies.ask_relationship("Gil")]


async def test_an_unclear_revocation_gets_one_question_and_no_opt_out(system: System) -> None:
    caregiver = system.caregiver(UNCLEAR_REVOCATION)
    assert await caregiver.says("hi") == [replies.WELCOME]
    assert await caregiver.says("too many texts lately") == [replies.CLARIFY_OPT_OUT]
    assert "STOP" in replies.CLARIFY_OPT_OUT
    assert (await _profile(system, UNCLEAR_REVOCATION))["sms_opt_out"] is False
    # Not opted out, and onboarding is where it was.
    assert await caregiver.says("I'm Hal") == [replies.ask_relationship("Hal")]
    assert caregiver.inbox() == [
        replies.WELCOME,
        replies.CLARIFY_OPT_OUT,
        replies.ask_relationship("Hal"),
    ]
