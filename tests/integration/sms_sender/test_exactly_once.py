"""One request, one Twilio call: under duplicate deliveries to concurrent senders, and when a
sender dies after claiming or after Twilio accepted the message but before it was recorded."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from services.sms_sender.transport import OutgoingSms, ProviderMessage, TwilioTransport
from shared.broker import connect
from shared.inbox import INBOX_COLLECTION
from tests.integration.sms_sender.conftest import (
    PHONE,
    SenderHarness,
    never_returns,
    request_event,
    sender_settings,
    unique_key,
)

pytestmark = pytest.mark.integration


async def test_same_request_delivered_five_times_to_three_senders_makes_one_call(
    harness: SenderHarness,
) -> None:
    for _ in range(3):
        await harness.consume(harness.sender())
    key = unique_key()
    request = request_event(key)
    await asyncio.gather(*(harness.publish(request) for _ in range(5)))

    await harness.settled(request.type, 5)
    row = await harness.row_reaches(key, "sent")
    assert len(harness.twilio.creates) == 1
    create = harness.twilio.creates[0]
    assert create.params["To"] == PHONE
    assert create.params["From"] == "+15550009999"
    assert create.params["Body"] == request.payload.body
    assert create.params["StatusCallback"].endswith(f"?key={key.replace(':', '%3A')}")
    assert row["provider_sid"] == create.sid
    assert row["attempts"] == 1
    assert row["transport"] == "twilio"
    message = await harness.message(key)
    assert (message["status"], message["provider_sid"]) == ("sent", create.sid)
    # A request needs no inbox row: its key is its identity.
    assert await harness.db[INBOX_COLLECTION].count_documents({}) == 0


class _DiesMidSend:
    """A transport whose process dies during `send`: before calling Twilio, or after Twilio
    accepted the message but before the answer could be recorded."""

    name = "twilio"

    def __init__(self, real: TwilioTransport, *, after_call: bool) -> None:
        self._real = real
        self._after_call = after_call
        self.died = asyncio.Event()
        self.stuck: asyncio.Task[object] | None = None

    async def send(self, sms: OutgoingSms) -> ProviderMessage:
        if self._after_call:
            await self._real.send(sms)
        self.stuck = asyncio.current_task()
        self.died.set()
        await never_returns()
        raise AssertionError("unreachable")

    async def find_sent(self, to_number: str, since: object, limit: int) -> list[ProviderMessage]:
        raise AssertionError("the dying sender never resolves")

    async def close(self) -> None:
        return None


async def _die_mid_send(harness: SenderHarness, key: str, *, after_call: bool) -> None:
    """Run the first sender until it dies inside `send`, taking its broker connection along."""
    doomed_connection = await connect(harness.broker_settings, name="doomed-sender")
    dying = _DiesMidSend(harness.twilio_transport(), after_call=after_call)
    await harness.consume(harness.sender(transport=dying), doomed_connection)
    await harness.publish(request_event(key))
    await asyncio.wait_for(dying.died.wait(), 15)
    row = await harness.row(key)
    assert row["status"] == "sending"
    assert row["lease_until"] > harness.clock.now()
    # The process is gone: its unacknowledged delivery returns to the queue.
    await doomed_connection.close()
    assert dying.stuck is not None
    dying.stuck.cancel()


async def test_sender_killed_after_claiming_is_taken_over_after_the_lease_once(
    harness: SenderHarness,
) -> None:
    key = unique_key()
    await _die_mid_send(harness, key, after_call=False)
    assert harness.twilio.creates == []

    survivor = harness.sender()
    await harness.consume(survivor)
    # The redelivered request reaches the survivor, but the dead sender's lease still holds.
    await harness.settled("sms.outbound.requested", 1)
    assert await survivor.poller.run_once() == 0
    assert (await harness.row(key))["status"] == "sending"
    assert harness.twilio.creates == []

    harness.clock.advance(timedelta(seconds=sender_settings().lease_seconds + 1))
    assert await survivor.poller.run_once() == 1
    row = await harness.row(key)
    assert row["status"] == "sent"
    assert len(harness.twilio.creates) == 1
    assert row["provider_sid"] == harness.twilio.creates[0].sid
    # It asked Twilio before sending: the dead sender might have got that far.
    assert [call["To"] for call in harness.twilio.lists] == [PHONE]
    assert row["attempts"] == 2
    assert await survivor.poller.run_once() == 0
    assert len(harness.twilio.creates) == 1


async def test_sender_killed_after_twilio_accepted_is_resolved_without_a_second_call(
    harness: SenderHarness,
) -> None:
    key = unique_key()
    await _die_mid_send(harness, key, after_call=True)
    assert len(harness.twilio.creates) == 1
    sid = harness.twilio.creates[0].sid

    survivor = harness.sender()
    await harness.consume(survivor)
    await harness.settled("sms.outbound.requested", 1)
    harness.clock.advance(timedelta(seconds=sender_settings().lease_seconds + 1))
    assert await survivor.poller.run_once() == 1

    row = await harness.row(key)
    assert len(harness.twilio.creates) == 1
    assert row["status"] == "sent"
    assert row["provider_sid"] == sid
    assert row["history"][-1]["outcome"] == "resolved"
    message = await harness.message(key)
    assert (message["status"], message["provider_sid"]) == ("sent", sid)


async def test_in_doubt_lookup_never_adopts_another_sends_identical_message(
    harness: SenderHarness,
) -> None:
    """Two keys, same body, same number: the in-doubt one must not take the other's message."""
    body = "Time for your weekly check-in?"
    sender = harness.sender()
    await harness.consume(sender)
    earlier = unique_key("proactive")
    await harness.publish(request_event(earlier, body=body, kind="proactive"))
    await harness.row_reaches(earlier, "sent")

    # A send whose sender died mid-call, just as the first message went out.
    crashed = unique_key("proactive")
    now = harness.clock.now()
    await harness.db["outbound_messages"].insert_one(
        {
            "_id": crashed,
            "to_number": PHONE,
            "body": body,
            "kind": "proactive",
            "user_id": "user-1",
            "compliance": False,
            "status": "sending",
            "attempts": 1,
            "attempt_started_at": now,
            "lease_until": now,
            "event_id": str(uuid.uuid4()),
            "correlation_id": "test",
            "requested_at": now,
            "created_at": now,
            "updated_at": now,
        }
    )
    assert await sender.poller.run_once() == 1
    rows = [await harness.row(earlier), await harness.row(crashed)]
    assert [r["status"] for r in rows] == ["sent", "sent"]
    assert len(harness.twilio.creates) == 2
    assert rows[0]["provider_sid"] != rows[1]["provider_sid"]
    assert len(harness.twilio.lists) == 1
