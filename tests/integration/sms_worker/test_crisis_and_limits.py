"""Acceptance: crisis language is answered at once — over the rate limit, without a
subscription — and recorded; the rate limit and the subscription gate speak once a day."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.sms_worker.domain import replies
from services.sms_worker.settings import SmsWorkerSettings
from shared.events import new_event
from shared.events.catalog import BillingAccessChanged, CrisisDetected, MediaItem
from tests.integration.sms_worker.conftest import START, StartWorker

pytestmark = pytest.mark.integration

PHONE = "+14155550100"


async def test_crisis_reply_even_over_the_rate_limit_and_without_subscription(
    start_sms_worker: StartWorker,
) -> None:
    settings = SmsWorkerSettings(rate_limit_per_day=3)
    async with start_sms_worker(subscriptions=True, settings=settings) as worker:
        (gate,) = await worker.text("hi")
        assert gate.kind == "subscription_gate"
        assert await worker.text("hello?", at=START + timedelta(minutes=1)) == []
        assert await worker.text("anyone?", at=START + timedelta(minutes=2)) == []
        (notice,) = await worker.text("hello", at=START + timedelta(minutes=3))
        assert (notice.kind, notice.body) == ("rate_limit_notice", replies.RATE_LIMIT_NOTICE)
        assert await worker.text("please", at=START + timedelta(minutes=4)) == []

        at = START + timedelta(minutes=5)
        crisis_event = worker.inbound("I can't do this. I want to end my life", at=at)
        await worker.publish(crisis_event)
        await worker.handled(crisis_event)
        (crisis,) = await worker.requested(crisis_event)
        assert crisis.kind == "crisis"
        assert "988" in crisis.body
        assert "741741" in crisis.body
        assert len(crisis.body) <= 160
        assert crisis.to_number == PHONE

        profile = await worker.profile()
        assert profile["last_crisis_event_at"] == at
        assert profile["crisis_followup_count"] == 0
        alert = await worker.db.alerts.find_one({"user_id": profile["_id"]})
        assert alert is not None
        assert (alert["severity"], alert["source"], alert["status"]) == ("high", "message", "open")
        (detected,) = await worker.emitted(crisis_event, CrisisDetected.EVENT_TYPE)
        assert isinstance(detected.payload, CrisisDetected)
        assert detected.payload.severity == "high"
        assert "body" not in detected.payload.model_dump()
        message = await worker.db.messages.find_one({"event_id": str(crisis_event.id)})
        assert message is not None
        assert (message["route"], message["rate_exempt"]) == ("crisis", True)


async def test_rate_limit_is_a_rolling_day(start_sms_worker: StartWorker) -> None:
    settings = SmsWorkerSettings(rate_limit_per_day=2)
    async with start_sms_worker(settings=settings) as worker:
        await worker.text("hi")
        await worker.text("Ana", at=START + timedelta(hours=1))
        (notice,) = await worker.text("my mom", at=START + timedelta(hours=2))
        assert notice.kind == "rate_limit_notice"
        # Limited messages count too, and a new local day gets a new notice.
        (again,) = await worker.text("my mom", at=START + timedelta(hours=24, minutes=30))
        assert again.kind == "rate_limit_notice"
        # Once the earlier ones leave the rolling window, replies resume.
        (question,) = await worker.text("my mom", at=START + timedelta(hours=26, minutes=1))
        assert question.kind == "onboarding"


async def test_billing_access_arriving_before_the_user_opens_the_gate(
    start_sms_worker: StartWorker,
) -> None:
    async with start_sms_worker(subscriptions=True) as worker:
        granted = new_event(
            BillingAccessChanged(phone=PHONE, has_access=True, status="active", changed_at=START)
        )
        older_revocation = new_event(
            BillingAccessChanged(
                phone=PHONE,
                has_access=False,
                status="unpaid",
                changed_at=START - timedelta(days=1),
            )
        )
        for event in (granted, older_revocation):
            await worker.publish(event)
            await worker.handled(event)
        (welcome,) = await worker.text("hi", at=START + timedelta(minutes=1))
        assert (welcome.kind, welcome.body) == ("onboarding", replies.WELCOME)

        lapsed = new_event(
            BillingAccessChanged(
                phone=PHONE,
                has_access=False,
                status="canceled",
                changed_at=START + timedelta(minutes=2),
            )
        )
        await worker.publish(lapsed)
        await worker.handled(lapsed)
        (gate,) = await worker.text("Ana", at=START + timedelta(minutes=3))
        assert gate.kind == "subscription_gate"
        assert "Resubscribe" in gate.body


async def test_mms_media_metadata_goes_to_attachments(start_sms_worker: StartWorker) -> None:
    media = [
        MediaItem(url="https://api.twilio.com/media/ME1", content_type="image/jpeg"),
        MediaItem(url="https://api.twilio.com/media/ME2", content_type="image/png"),
    ]
    async with start_sms_worker() as worker:
        event = worker.inbound("look at this", media=media)
        await worker.publish(event)
        await worker.handled(event)
        message_id = f"in:{event.payload.message_sid}"
        rows = [
            row
            async for row in worker.db.attachments.find({"message_id": message_id}).sort("position")
        ]
        assert [(r["url"], r["content_type"]) for r in rows] == [
            (m.url, m.content_type) for m in media
        ]
        message = await worker.db.messages.find_one({"_id": message_id})
        assert message is not None
        assert message["num_media"] == 2
        assert "attachments" not in message
