"""Twilio status callbacks (`sms.status.updated`) arrive late, twice and out of order; a message
ends in its furthest true state, and a callback that beats the sender's own record is kept."""

from __future__ import annotations

import pytest

from services.sms_sender.transport import OutgoingSms, ProviderMessage, TwilioTransport
from services.sms_sender.wiring import Sender
from shared.events import new_event
from shared.events.catalog import SmsStatusUpdated
from tests.integration.sms_sender.conftest import PHONE, SenderHarness, request_event, unique_key

pytestmark = pytest.mark.integration


def _status(
    harness: SenderHarness, sid: str, status: str, key: str | None, error_code: int | None = None
) -> SmsStatusUpdated:
    return SmsStatusUpdated(
        message_sid=sid,
        status=status,
        error_code=error_code,
        outbound_key=key,
        to_number=PHONE,
        received_at=harness.clock.now(),
    )


async def test_out_of_order_callbacks_end_in_the_latest_true_state(
    harness: SenderHarness,
) -> None:
    await harness.consume(harness.sender())
    key = unique_key()
    await harness.publish(request_event(key))
    sid = (await harness.row_reaches(key, "sent"))["provider_sid"]

    # Delivered first, then the earlier statuses, one without the key (found by sid), one twice.
    for status, with_key in (("delivered", True), ("sent", True), ("queued", False)):
        await harness.publish(new_event(_status(harness, sid, status, key if with_key else None)))
    await harness.publish(new_event(_status(harness, sid, "sent", key)))
    await harness.settled(SmsStatusUpdated.EVENT_TYPE, 4)

    row = await harness.row(key)
    message = await harness.message(key)
    assert (row["status"], message["status"]) == ("delivered", "delivered")
    assert message["provider_sid"] == sid

    # A final state stays final, whatever comes after it.
    await harness.publish(new_event(_status(harness, sid, "undelivered", key, 30003)))
    await harness.settled(SmsStatusUpdated.EVENT_TYPE, 5)
    assert (await harness.row(key))["status"] == "delivered"


async def test_undelivered_is_recorded_with_its_error_code(harness: SenderHarness) -> None:
    await harness.consume(harness.sender())
    key = unique_key()
    await harness.publish(request_event(key))
    sid = (await harness.row_reaches(key, "sent"))["provider_sid"]
    await harness.publish(new_event(_status(harness, sid, "undelivered", key, 30006)))
    row = await harness.row_reaches(key, "undelivered")
    assert row["error_code"] == 30006
    assert (await harness.message(key))["status"] == "undelivered"


async def test_callbacks_for_unknown_or_mismatched_messages_change_nothing(
    harness: SenderHarness,
) -> None:
    await harness.consume(harness.sender())
    key = unique_key()
    await harness.publish(request_event(key))
    await harness.row_reaches(key, "sent")
    await harness.publish(new_event(_status(harness, "SMnot-ours", "delivered", None)))
    await harness.publish(new_event(_status(harness, "SMsomeone-else", "delivered", key)))
    await harness.settled(SmsStatusUpdated.EVENT_TYPE, 2)
    assert (await harness.row(key))["status"] == "sent"


class _CallbackBeatsRecord:
    """Twilio is fast: the delivered callback is applied before `send` even returns."""

    name = "twilio"

    def __init__(self, real: TwilioTransport, harness: SenderHarness) -> None:
        self._real = real
        self._harness = harness
        self.sender: Sender | None = None

    async def send(self, sms: OutgoingSms) -> ProviderMessage:
        message = await self._real.send(sms)
        sender = self.sender
        assert sender is not None
        status = _status(self._harness, message.sid, "delivered", sms.key)
        await self._harness.transactions.run(
            lambda uow: sender.statuses.apply(new_event(status), uow)
        )
        return message

    async def find_sent(self, to_number: str, since: object, limit: int) -> list[ProviderMessage]:
        raise AssertionError("no doubt to resolve")

    async def close(self) -> None:
        return None


async def test_callback_before_the_senders_own_record_is_not_lost(
    harness: SenderHarness,
) -> None:
    transport = _CallbackBeatsRecord(harness.twilio_transport(), harness)
    sender = harness.sender(transport=transport)
    transport.sender = sender
    await harness.consume(sender)
    key = unique_key()
    await harness.publish(request_event(key))
    row = await harness.row_reaches(key, "delivered")
    assert row["provider_sid"] == harness.twilio.creates[0].sid
    assert (await harness.message(key))["status"] == "delivered"
