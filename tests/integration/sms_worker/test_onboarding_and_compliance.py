"""Acceptance: a new number is onboarded by SMS into the split collections; STOP/START and
look-alike sentences behave as the compliance rules say."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.sms_worker.domain import replies
from services.sms_worker.domain.instruments import BSFC_S
from shared.events import new_event
from shared.events.catalog import SmsOptOutChanged, UserProfileChanged
from tests.integration.sms_worker.conftest import START, StartWorker

pytestmark = pytest.mark.integration

PHONE = "+14155550100"


async def test_new_number_is_onboarded_into_split_collections(
    start_sms_worker: StartWorker,
) -> None:
    async with start_sms_worker() as worker:
        # Twilio may post the sender in any US spelling; it becomes one E.164 identity.
        first = await worker.text("hi", phone="(415) 555-0100")
        assert [(r.to_number, r.kind, r.body) for r in first] == [
            (PHONE, "onboarding", replies.WELCOME)
        ]
        profile = await worker.profile()
        assert profile["journey_phase"] == "onboarding"

        answers = await worker.conversation(["Ana", "my mom", "Rose", "02139"], phone=PHONE)
        assert [len(r) for r in answers] == [1, 1, 1, 1]
        assert answers[-1][0].body == replies.onboarding_complete(
            "Ana", replies.offer_assessment(BSFC_S.minutes)
        )

        user = await worker.user()
        # Identity only: admin roles are the admin's (its operators), not kept here.
        assert set(user) == {"_id", "phone", "email", "created_at", "updated_at"}
        profile = await worker.profile()
        assert profile["journey_phase"] == "active"
        assert profile["user_id"] == user["_id"]
        assert (profile["first_name"], profile["relationship"]) == ("Ana", "mom")
        assert (profile["care_recipient_name"], profile["zip_code"]) == ("Rose", "02139")
        assert profile["timezone"] == "America/New_York"
        assert profile["assessment_offer"] == BSFC_S.id
        assert profile["version"] == 5
        conversation = await worker.db.conversation_state.find_one({"_id": user["_id"]})
        assert conversation is not None
        assert conversation["total_interaction_count"] == 5
        assert [m["direction"] for m in conversation["recent_messages"]] == [
            "inbound",
            "outbound",
        ] * 5
        inbound_rows = await worker.db.messages.count_documents(
            {"user_id": user["_id"], "direction": "inbound", "status": "received"}
        )
        assert inbound_rows == 5
        assert await worker.db.users.count_documents({}) == 1


async def test_profile_changes_are_published_for_the_scheduler(
    start_sms_worker: StartWorker,
) -> None:
    async with start_sms_worker() as worker:
        event = worker.inbound("hi")
        await worker.publish(event)
        await worker.handled(event)
        (snapshot,) = await worker.emitted(event, UserProfileChanged.EVENT_TYPE)
        assert isinstance(snapshot.payload, UserProfileChanged)
        assert snapshot.payload.journey_phase == "onboarding"
        assert snapshot.payload.version == 1
        assert snapshot.payload.last_contact_at == event.payload.received_at


async def test_stop_silences_everything_until_start(start_sms_worker: StartWorker) -> None:
    async with start_sms_worker() as worker:
        await worker.conversation(["hi", "Ana", "my dad", "Joe", "10001"])
        stop = worker.inbound("STOP")
        await worker.publish(stop)
        await worker.handled(stop)
        (confirmation,) = await worker.requested(stop)
        assert confirmation.compliance
        assert confirmation.body == replies.OPT_OUT_CONFIRMATION
        (change,) = await worker.emitted(stop, SmsOptOutChanged.EVENT_TYPE)
        assert isinstance(change.payload, SmsOptOutChanged)
        assert (change.payload.opted_out, change.payload.source) == (True, "keyword")
        profile = await worker.profile()
        assert profile["sms_opt_out"] is True

        assert await worker.text("hello") == []
        assert await worker.text("HELP") == []
        assert await worker.text("STOP") == []  # no second confirmation

        (welcome_back,) = await worker.text("START")
        assert welcome_back.compliance
        assert welcome_back.body == replies.OPT_IN_CONFIRMATION
        assert (await worker.profile())["sms_opt_out"] is False

        (answer,) = await worker.text("Can you help me cancel my appointment?")
        assert (answer.kind, answer.compliance) == ("reply", False)
        assert answer.body != replies.HELP_TEXT
        assert (await worker.profile())["sms_opt_out"] is False
        # Our own opt-out events come back through the queue and change nothing.
        compliance_rows = await worker.db.messages.count_documents({"route": "opt_out"})
        assert compliance_rows == 1


async def test_carrier_opt_out_from_the_sender_reaches_the_profile(
    start_sms_worker: StartWorker,
) -> None:
    async with start_sms_worker() as worker:
        await worker.text("hi")
        user = await worker.user()
        carrier = new_event(
            SmsOptOutChanged(
                phone=PHONE,
                opted_out=True,
                source="carrier",
                changed_at=START + timedelta(minutes=1),
            )
        )
        await worker.publish(carrier)
        await worker.handled(carrier)
        profile = await worker.profile()
        assert profile["sms_opt_out"] is True
        assert await worker.text("Ana", at=START + timedelta(minutes=2)) == []
        # An older opt-in (delivered late) does not undo the newer opt-out.
        stale = new_event(
            SmsOptOutChanged(
                phone=PHONE, opted_out=False, source="admin", user_id=user["_id"], changed_at=START
            )
        )
        await worker.publish(stale)
        await worker.handled(stale)
        assert (await worker.profile())["sms_opt_out"] is True
