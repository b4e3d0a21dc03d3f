"""Acceptance: the same inbound event delivered twice, one after the other or at the same time,
yields one reply request, one message row and one state change.
A sender that is not a phone number is recorded and parked."""

from __future__ import annotations

import asyncio

import aiormq
import pytest
from aio_pika.abc import AbstractRobustConnection

from services.sms_worker.queues import INBOUND
from shared.broker.topology import parking_queue_name
from shared.events.catalog import SmsOutboundRequested
from shared.outbox import OUTBOX_COLLECTION
from tests.integration.sms_worker.conftest import StartWorker
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def _queue_depth(broker: AbstractRobustConnection, name: str) -> int | None:
    """Messages ready in queue `name`, or None when it does not exist."""
    channel = await broker.channel()
    try:
        queue = await channel.declare_queue(name, passive=True)
    except aiormq.exceptions.ChannelNotFoundEntity:
        return None
    finally:
        if not channel.is_closed:
            await channel.close()
    return queue.declaration_result.message_count


async def test_duplicates_sequential_and_concurrent_have_one_effect(
    start_sms_worker: StartWorker, broker: AbstractRobustConnection
) -> None:
    async with start_sms_worker() as worker:
        # New users are the hardest case: both copies race to create the user too.
        first = worker.inbound("hi", phone="+14155550111")
        await asyncio.gather(worker.publish(first), worker.publish(first), worker.publish(first))
        await worker.handled(first)
        second = worker.inbound("Ana", phone="+14155550111")
        await worker.publish(second)
        await worker.handled(second)
        await worker.publish(second)  # redelivered after it was handled
        await worker.publish(first)
        # A later message proves the duplicates were consumed (the queue is FIFO per consumer).
        third = worker.inbound("my mom", phone="+14155550111")
        await worker.publish(third)
        await worker.handled(third)

        async def drained() -> bool:
            inbound = worker.broker_settings.queue(INBOUND.name)
            return await _queue_depth(broker, inbound) == 0

        await eventually(drained)
        assert await worker.db.users.count_documents({}) == 1
        assert await worker.db.user_profiles.count_documents({}) == 1
        for event in (first, second, third):
            assert len(await worker.requested(event)) == 1
            rows = await worker.db.messages.count_documents({"event_id": str(event.id)})
            assert rows == 1
        outbox_requests = await worker.db[OUTBOX_COLLECTION].count_documents(
            {"type": SmsOutboundRequested.EVENT_TYPE}
        )
        assert outbox_requests == 3
        profile = await worker.profile("+14155550111")
        assert profile["version"] == 3
        assert profile["first_name"] == "Ana"
        assert profile["onboarding"]["field"] == "care_recipient_name"
        conversation = await worker.db.conversation_state.find_one({"_id": profile["_id"]})
        assert conversation is not None
        assert conversation["total_interaction_count"] == 3
        assert len(conversation["recent_messages"]) == 6


async def test_unusable_sender_is_recorded_and_parked(
    start_sms_worker: StartWorker, broker: AbstractRobustConnection
) -> None:
    async with start_sms_worker() as worker:
        event = worker.inbound("hello", phone="GiveCareX")
        await worker.publish(event)
        message_id = f"in:{event.payload.message_sid}"

        async def recorded() -> dict[str, object] | None:
            return await worker.db.messages.find_one({"_id": message_id})

        row = await eventually(recorded)
        assert (row["status"], row["user_id"]) == ("rejected", None)

        async def parked() -> bool:
            dlq = parking_queue_name(worker.broker_settings.queue(INBOUND.name))
            return await _queue_depth(broker, dlq) == 1

        await eventually(parked)
        assert await worker.db.users.count_documents({}) == 0
        assert await worker.requested(event) == []
