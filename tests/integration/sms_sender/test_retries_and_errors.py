"""Provider failures as they happen: 500s and 429s retried with growing full-jitter delays,
timeouts resolved against Twilio before any re-send, permanent errors recorded at once (21610
also opts the recipient out), and sends that run out of attempts failed and parked."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.devtools.fake_twilio import Reply
from services.sms_sender.store import RETRIES_EXHAUSTED
from shared.broker.parking import list_parked, replay_parked
from shared.events.catalog import EVENTS, SmsOptOutChanged
from tests.integration.sms_sender.conftest import (
    PHONE,
    SenderHarness,
    request_event,
    sender_settings,
    unique_key,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def _retry_delay(harness: SenderHarness, key: str) -> timedelta:
    row = await harness.row(key)
    assert row["status"] == "pending"
    delay: timedelta = row["next_attempt_at"] - harness.clock.now()
    return delay


async def test_500_500_201_is_sent_on_attempt_three_after_growing_delays(
    harness: SenderHarness,
) -> None:
    harness.twilio.script(Reply.server_error(), Reply.server_error())
    sender = harness.sender(unit_random=lambda: 0.75)
    await harness.consume(sender)
    key = unique_key()
    await harness.publish(request_event(key))

    await harness.row_reaches(key, "pending")
    await eventually(lambda: _attempts(harness, key, 1))
    first_delay = await _retry_delay(harness, key)
    assert await sender.poller.run_once() == 0  # not due yet
    harness.clock.advance(first_delay)
    assert await sender.poller.run_once() == 1
    second_delay = await _retry_delay(harness, key)
    harness.clock.advance(second_delay)
    assert await sender.poller.run_once() == 1

    row = await harness.row(key)
    assert row["status"] == "sent"
    assert row["attempts"] == 3
    assert [call.status for call in harness.twilio.creates] == [500, 500, 201]
    assert row["provider_sid"] == harness.twilio.creates[-1].sid
    settings = sender_settings()
    # Full jitter with a fixed draw of 0.75: 0.75 * base * 2^(n-1).
    assert first_delay == timedelta(seconds=0.75 * settings.retry_base_seconds)
    assert second_delay == 2 * first_delay
    assert [entry["outcome"] for entry in row["history"]] == ["retry", "retry", "sent"]
    assert [entry.get("http_status") for entry in row["history"][:2]] == [500, 500]
    # A 500 may hide an accepted message, so each retry asked Twilio first.
    assert len(harness.twilio.lists) == 2
    assert (await harness.message(key))["status"] == "sent"


async def _attempts(harness: SenderHarness, key: str, attempts: int) -> bool:
    row = await harness.db["outbound_messages"].find_one({"_id": key})
    return row is not None and row.get("attempts") == attempts and "claim" not in row


async def test_429_is_retried_without_asking_twilio_first(harness: SenderHarness) -> None:
    harness.twilio.script(Reply.rate_limited())
    sender = harness.sender()
    await harness.consume(sender)
    key = unique_key()
    await harness.publish(request_event(key))
    await eventually(lambda: _attempts(harness, key, 1))
    harness.clock.advance(await _retry_delay(harness, key))
    assert await sender.poller.run_once() == 1
    assert (await harness.row(key))["status"] == "sent"
    assert len(harness.twilio.creates) == 2
    assert harness.twilio.lists == []  # a 429 creates nothing: no doubt to resolve


async def test_timeout_after_twilio_accepted_is_resolved_not_resent(
    harness: SenderHarness,
) -> None:
    harness.twilio.script(Reply.hang(30, creates=True))
    sender = harness.sender(transport=harness.twilio_transport(timeout=0.5))
    await harness.consume(sender)
    key = unique_key()
    await harness.publish(request_event(key))
    await eventually(lambda: _attempts(harness, key, 1))
    assert (await harness.row(key))["in_doubt_since"] is not None
    harness.clock.advance(await _retry_delay(harness, key))
    assert await sender.poller.run_once() == 1

    row = await harness.row(key)
    assert len(harness.twilio.creates) == 1
    assert row["status"] == "sent"
    assert row["provider_sid"] == harness.twilio.creates[0].sid
    assert row["history"][-1]["outcome"] == "resolved"


async def test_21610_is_not_retried_and_opts_the_recipient_out(harness: SenderHarness) -> None:
    harness.twilio.script(Reply.unsubscribed())
    sender = harness.sender()
    await harness.consume(sender)
    tap = await harness.tap(SmsOptOutChanged.EVENT_TYPE)
    key = unique_key()
    await harness.publish(request_event(key))

    row = await harness.row_reaches(key, "permanently_failed")
    assert row["error_code"] == 21610
    assert "unsubscribed" in row["reason"]
    recipient = await harness.recipient()
    assert recipient is not None
    assert (recipient["opted_out"], recipient["source"]) == (True, "carrier")
    assert (await harness.message(key))["status"] == "permanently_failed"

    # Published from the send's row, with its outcome (`shared.row_outbox`): no relay pass.
    published = await eventually(lambda: tap.get(no_ack=True, fail=False))
    event = EVENTS.decode(published.body)
    assert isinstance(event.payload, SmsOptOutChanged)
    assert (event.payload.phone, event.payload.opted_out, event.payload.source) == (
        PHONE,
        True,
        "carrier",
    )

    harness.clock.advance(timedelta(hours=1))
    assert await sender.poller.run_once() == 0
    later = unique_key()
    await harness.publish(request_event(later))
    assert (await harness.row_reaches(later, "suppressed"))["reason"] == "opted_out"
    assert len(harness.twilio.creates) == 1


async def test_exhausted_retries_fail_and_park_and_a_replay_sends_once(
    harness: SenderHarness,
) -> None:
    harness.twilio.script(Reply.server_error(), Reply.server_error())
    sender = harness.sender(settings=sender_settings(max_attempts=2))
    await harness.consume(sender)
    key = unique_key()
    await harness.publish(request_event(key))
    await eventually(lambda: _attempts(harness, key, 1))
    harness.clock.advance(await _retry_delay(harness, key))
    assert await sender.poller.run_once() == 1

    row = await harness.row(key)
    assert (row["status"], row["reason"]) == ("failed", RETRIES_EXHAUSTED)
    assert (await harness.message(key))["status"] == "failed"
    channel = await harness.broker.channel()
    parked = await eventually(lambda: list_parked(channel, harness.queue))
    assert [(p.error_type, p.attempts, p.event_type) for p in parked] == [
        ("RetriesExhausted", 2, "sms.outbound.requested")
    ]

    assert await replay_parked(channel, harness.queue) == 1
    await channel.close()
    row = await harness.row_reaches(key, "sent")
    assert row["reopened"] == 1
    assert [call.status for call in harness.twilio.creates] == [500, 500, 201]
    assert (await harness.message(key))["status"] == "sent"


async def test_failed_lookup_of_an_in_doubt_send_retries_instead_of_giving_up(
    harness: SenderHarness,
) -> None:
    harness.twilio.script(Reply.server_error())
    harness.twilio.script_lists(Reply.error(404, 20404, "not found"))
    sender = harness.sender()
    await harness.consume(sender)
    key = unique_key()
    await harness.publish(request_event(key))
    await eventually(lambda: _attempts(harness, key, 1))

    harness.clock.advance(await _retry_delay(harness, key))
    assert await sender.poller.run_once() == 1
    row = await harness.row(key)
    assert row["status"] == "pending"  # the lookup failed: no send, no verdict
    assert len(harness.twilio.creates) == 1
    harness.clock.advance(await _retry_delay(harness, key))
    assert await sender.poller.run_once() == 1
    assert (await harness.row(key))["status"] == "sent"
    assert len(harness.twilio.creates) == 2
    assert len(harness.twilio.lists) == 2
