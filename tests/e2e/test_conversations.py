"""Conversations through the whole running system: a caregiver's SMS goes in as a signed Twilio
webhook, through ingress, the broker, the SMS worker and the sender, and comes back as the
replies the fake Twilio received. Then two crashes: a sender killed in the middle of its Twilio
call, and an SMS worker killed holding a message; after a restart, exactly one reply each."""

from __future__ import annotations

import os
import signal

import pytest

from domain import send_status
from services.devtools.fake_twilio import Reply
from services.sms_worker.domain import replies
from services.sms_worker.domain.assessments import question_text
from services.sms_worker.domain.instruments import BASELINE, EMA
from shared.mongo import Document
from shared.outbox import SENT as OUTBOX_SENT
from tests.support.system import REPLY_TIMEOUT, System
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

ONBOARDING = "+15555550101"
CRISIS = "+15555550102"
OPT_OUT = "+15555550103"
ASSESSMENT = "+15555550104"
SENDER_CRASH = "+15555550105"
WORKER_CRASH = "+15555550106"
CHAT = "+15555550107"
BASELINE_RUN = "+15555550108"
DELIVERED = "+15555550109"
CRISIS_TEXT = "I can't do this anymore. I want to end my life"


async def test_onboarding(system: System) -> None:
    ana = system.caregiver(ONBOARDING)
    assert await ana.says("hi") == [replies.WELCOME]
    assert await ana.says("I'm Ana") == [replies.ask_relationship("Ana")]
    assert await ana.says("my mother") == [replies.ask_care_recipient_name("mom")]
    assert await ana.says("Rose") == [replies.ask_zip()]
    offer = replies.offer_assessment(2)
    assert await ana.says("10001") == [replies.onboarding_complete("Ana", offer)]
    assert len(ana.inbox()) == 5


async def test_crisis_language_is_answered_at_once_even_before_onboarding(system: System) -> None:
    caregiver = system.caregiver(CRISIS)
    assert await caregiver.says(CRISIS_TEXT) == [replies.CRISIS_REPLY]


async def test_stop_silences_everything_until_start(system: System) -> None:
    caregiver = system.caregiver(OPT_OUT)
    assert await caregiver.says("hi") == [replies.WELCOME]
    assert await caregiver.says("STOP") == [replies.OPT_OUT_CONFIRMATION]
    assert await caregiver.says("hello? Ana here") == []
    assert await caregiver.says("START") == [replies.OPT_IN_CONFIRMATION]
    assert caregiver.inbox() == [
        replies.WELCOME,
        replies.OPT_OUT_CONFIRMATION,
        replies.OPT_IN_CONFIRMATION,
    ]


async def test_an_assessment_from_start_to_score(system: System) -> None:
    caregiver = system.caregiver(ASSESSMENT)
    await caregiver.onboard(first_name="Bea")
    assert await caregiver.says("CHECKIN") == [question_text(EMA, 0)]
    assert await caregiver.says("4") == [question_text(EMA, 1)]
    # Off the scale: acknowledged, and the caregiver may go on, skip or end the check-in.
    assert await caregiver.says("seven") == [
        replies.assessment_not_an_answer(
            question=2, size=3, scale_min=1, scale_max=5, off_scale=True
        )
    ]
    assert await caregiver.says("2") == [question_text(EMA, 2)]
    # Mood 4 and support 4 of 1-5, and overwhelm 2 (reverse-scored): 75 each on 0-100.
    assert await caregiver.says("4") == [replies.assessment_result(75, "mild", None)]


async def test_onboarding_then_the_whole_baseline_assessment_gets_every_reply(
    system: System,
) -> None:
    """Sixteen replies in a few minutes: the sender's per-recipient caps must not cut them."""
    caregiver = system.caregiver(BASELINE_RUN)
    await caregiver.onboard(first_name="Cy")
    assert await caregiver.says("YES") == [question_text(BASELINE, 0)]
    for item in range(1, len(BASELINE.items)):
        assert await caregiver.says("1") == [question_text(BASELINE, item)]
    # "1" of 0-3 on burden items (reverse-scored): 66.7 on 0-100 everywhere, no zone above 50.
    assert await caregiver.says("1") == [replies.assessment_result(67, "mild", None)]
    assert len(caregiver.inbox()) == 5 + len(BASELINE.items) + 1


async def test_twilio_delivery_reports_move_a_reply_to_delivered(system: System) -> None:
    """The fake reports `sent`, then `delivered`, to the status callback, as Twilio does: signed
    webhooks through ingress to the sender, which records them on its send and publishes each
    step; the SMS worker's conversation log follows."""
    caregiver = system.caregiver(DELIVERED)
    assert await caregiver.says("hi") == [replies.WELCOME]

    async def delivered() -> Document | None:
        row = await system.db("sms_sender").outbound_messages.find_one({"to_number": DELIVERED})
        return row if row is not None and row["status"] == send_status.DELIVERED else None

    row = await eventually(delivered, timeout=REPLY_TIMEOUT)

    async def logged() -> Document | None:
        message: Document | None = await system.db("sms_worker").messages.find_one(
            {"_id": f"out:{row['_id']}", "status": send_status.DELIVERED}
        )
        return message

    message = await eventually(logged, timeout=REPLY_TIMEOUT)
    assert message["provider_sid"] == row["provider_sid"]
    reports = [r for r in system.twilio.reports if r.sid == row["provider_sid"]]
    # Ingress took both (2xx; a refused signature would be 403).
    assert [(r.status, r.answer // 100) for r in reports] == [("sent", 2), ("delivered", 2)]


async def test_the_chat_simulator_holds_a_conversation(system: System) -> None:
    code, transcript, errors = await system.givecare(
        "chat", "--phone", CHAT, stdin=b"hi\nI'm Dee\n"
    )
    assert code == 0, errors
    assert transcript.splitlines() == [
        "you      > hi",
        f"GiveCare > {replies.WELCOME}",
        "you      > I'm Dee",
        f"GiveCare > {replies.ask_relationship('Dee')}",
    ]


async def test_a_sender_killed_in_the_middle_of_a_send_still_sends_exactly_once(
    system: System,
) -> None:
    caregiver = system.caregiver(SENDER_CRASH)
    # Twilio takes the message, but its answer never arrives: the sender is mid-call.
    system.twilio.script(Reply.hang(60, creates=True))
    try:
        message_sid = await caregiver.text("hi")

        async def twilio_took_it() -> bool:
            return any(call.params.get("To") == SENDER_CRASH for call in system.twilio.creates)

        await eventually(twilio_took_it, timeout=REPLY_TIMEOUT)
        await system.kill("sms-sender")
    finally:
        system.twilio.release_hangs()
    handled = await caregiver.handled(message_sid)
    [key] = await system.requested("sms_worker", handled["event_id"])
    row = await system.db("sms_sender").outbound_messages.find_one({"_id": key})
    assert row is not None
    assert row["status"] == "sending"  # killed while it held the send

    await system.start("sms-sender")
    # The new sender waits out the dead one's lease, asks Twilio, finds the message: no resend.
    assert await caregiver.replies_to(message_sid) == [replies.WELCOME]
    assert caregiver.inbox() == [replies.WELCOME]
    creates = [call for call in system.twilio.creates if call.params.get("To") == SENDER_CRASH]
    assert len(creates) == 1


async def test_a_worker_killed_holding_a_message_still_replies_exactly_once(
    system: System,
) -> None:
    caregiver = system.caregiver(WORKER_CRASH)
    worker = system.processes["sms-worker"]
    assert worker.pid is not None
    # Frozen, the worker still receives: the broker delivers into its connection, unacknowledged.
    os.kill(worker.pid, signal.SIGSTOP)
    try:
        message_sid = await caregiver.text("hi")
        dedupe_key = f"twilio:{message_sid}"
        ingress_events = system.db("ingress").ingress_events

        async def delivered_to_the_frozen_worker() -> bool:
            row = await ingress_events.find_one({"_id": dedupe_key})
            published = row is not None and row["status"] == OUTBOX_SENT
            return published and await system.queue_ready_count("sms_worker.inbound") == 0

        await eventually(delivered_to_the_frozen_worker, timeout=REPLY_TIMEOUT)
    finally:
        await system.kill("sms-worker")  # SIGKILL reaches a stopped process too

    await system.start("sms-worker")
    assert await caregiver.replies_to(message_sid) == [replies.WELCOME]
    assert caregiver.inbox() == [replies.WELCOME]


async def test_logs_never_carry_phone_numbers_or_message_bodies(system: System) -> None:
    caregiver = system.caregiver(CRISIS)
    assert await caregiver.says("HELP") == [replies.HELP_TEXT]
    logs = system.logs()
    assert b"webhook accepted" in logs  # the processes did log what they did
    for phone in (ONBOARDING, CRISIS, OPT_OUT, ASSESSMENT, SENDER_CRASH, WORKER_CRASH, CHAT):
        assert phone.removeprefix("+1").encode() not in logs
    assert CRISIS_TEXT.encode() not in logs
    assert replies.CRISIS_REPLY.encode() not in logs
    assert replies.HELP_TEXT.encode() not in logs
