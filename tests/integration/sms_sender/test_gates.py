"""The last line of defence before every send: opt-out state (fed by `sms.optout.changed`,
newest change wins), the per-recipient cap, and the body limit — each ends without a call."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from services.sms_sender.records import CapPolicy, Gate
from services.sms_sender.store import MongoRecipients
from shared.events import new_event
from shared.events.catalog import SmsOptOutChanged
from tests.integration.sms_sender.conftest import (
    PHONE,
    SenderHarness,
    request_event,
    sender_settings,
    unique_key,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def _opt_out_event(harness: SenderHarness, opted_out: bool, minutes_ago: int) -> None:
    change = SmsOptOutChanged(
        phone=PHONE,
        opted_out=opted_out,
        source="keyword",
        user_id="user-1",
        changed_at=harness.clock.now() - timedelta(minutes=minutes_ago),
    )
    await harness.publish(new_event(change))


async def test_opted_out_recipient_is_suppressed_with_zero_calls(harness: SenderHarness) -> None:
    await harness.consume(harness.sender())
    await _opt_out_event(harness, True, minutes_ago=5)
    # An older opt-in arriving late changes nothing.
    await _opt_out_event(harness, False, minutes_ago=10)
    await harness.settled(SmsOptOutChanged.EVENT_TYPE, 2)
    recipient = await harness.recipient()
    assert recipient is not None
    assert recipient["opted_out"] is True

    key = unique_key()
    await harness.publish(request_event(key))
    row = await harness.row_reaches(key, "suppressed")
    assert row["reason"] == "opted_out"
    assert (await harness.message(key))["status"] == "suppressed"
    assert harness.twilio.creates == []

    # The opt-out confirmation itself is the one message that may still go out.
    confirmation = unique_key("compliance")
    await harness.publish(
        request_event(
            confirmation,
            body="You're unsubscribed and will get no more messages. Reply START to resume.",
            kind="compliance",
            compliance=True,
        )
    )
    await harness.row_reaches(confirmation, "sent")
    assert len(harness.twilio.creates) == 1

    # A newer opt-in reopens the number.
    await _opt_out_event(harness, False, minutes_ago=1)
    await harness.settled(SmsOptOutChanged.EVENT_TYPE, 3)
    after = unique_key()
    await harness.publish(request_event(after))
    await harness.row_reaches(after, "sent")


async def test_send_cap_holds_back_a_storm_but_never_a_crisis_reply(
    harness_factory: object,
) -> None:
    assert callable(harness_factory)
    harness: SenderHarness = await harness_factory()
    await harness.consume(harness.sender(settings=sender_settings(send_cap=3)))
    keys = [unique_key() for _ in range(5)]
    for key in keys:
        await harness.publish(request_event(key, body=f"Reply {key}"))
    await harness.settled("sms.outbound.requested", 5)
    rows = [await harness.row(key) for key in keys]
    assert sorted(row["status"] for row in rows) == ["sent"] * 3 + ["suppressed"] * 2
    assert {row["reason"] for row in rows if row["status"] == "suppressed"} == {"send_cap"}
    assert len(harness.twilio.creates) == 3

    crisis = unique_key("crisis")
    await harness.publish(request_event(crisis, body="Call or text 988 now.", kind="crisis"))
    await harness.row_reaches(crisis, "sent")

    # The window rolls: an hour later the recipient may be written to again.
    harness.clock.advance(timedelta(seconds=sender_settings().send_cap_window_seconds + 1))
    later = unique_key()
    await harness.publish(request_event(later))
    await harness.row_reaches(later, "sent")
    assert len(harness.twilio.creates) == 5


async def test_a_recipient_at_the_cap_still_gets_stop_start_help_and_crisis_answers(
    harness_factory: object,
) -> None:
    """The requests exactly as the SMS worker makes them: STOP and START confirmations
    (`compliance=True`), the HELP text (kind `compliance`, `compliance=False`, a `reply:` key) and
    a crisis reply. Each goes out past both caps; each still counts towards them."""
    assert callable(harness_factory)
    harness: SenderHarness = await harness_factory()
    await harness.consume(harness.sender(settings=sender_settings(send_cap=2, send_cap_daily=3)))
    for key in (unique_key(), unique_key()):
        await harness.publish(request_event(key))
        await harness.row_reaches(key, "sent")
    capped = unique_key()
    await harness.publish(request_event(capped))
    assert (await harness.row_reaches(capped, "suppressed"))["reason"] == "send_cap"

    answers = [
        request_event(
            unique_key("opt-out"),
            body="You're unsubscribed and will get no more messages. Reply START to resume.",
            kind="compliance",
            compliance=True,
        ),
        request_event(
            unique_key("opt-in"),
            body="You're subscribed again. Reply STOP to unsubscribe, HELP for help.",
            kind="compliance",
            compliance=True,
        ),
        request_event(
            unique_key("reply"),
            body="GiveCare: caregiver support by text. Reply STOP to unsubscribe.",
            kind="compliance",
        ),
        request_event(unique_key("crisis"), body="Call or text 988 now.", kind="crisis"),
    ]
    for answer in answers:
        await harness.publish(answer)
        row = await harness.row_reaches(answer.idempotency_key, "sent", "suppressed")
        assert row["status"] == "sent", (answer.idempotency_key, row.get("reason"))
    assert len(harness.twilio.creates) == 2 + len(answers)

    # They were counted: the cap still holds ordinary replies back.
    after = unique_key()
    await harness.publish(request_event(after))
    assert (await harness.row_reaches(after, "suppressed"))["reason"] == "send_cap"
    recipient = await harness.recipient()
    assert recipient is not None
    assert len(recipient["send_times"]) == 3  # the daily cap's length, newest first


async def test_daily_cap_holds_back_what_the_burst_cap_lets_through(
    harness_factory: object,
) -> None:
    assert callable(harness_factory)
    harness: SenderHarness = await harness_factory()
    settings = sender_settings(send_cap=2, send_cap_daily=3)
    await harness.consume(harness.sender(settings=settings))

    async def outcomes(count: int) -> list[str]:
        keys = [unique_key() for _ in range(count)]
        for key in keys:
            await harness.publish(request_event(key))
        rows = [await harness.row_reaches(key, "sent", "suppressed") for key in keys]
        return sorted(row["status"] for row in rows)

    assert await outcomes(2) == ["sent", "sent"]
    # An hour later the burst cap has room again, but only one more fits into the day.
    harness.clock.advance(timedelta(seconds=settings.send_cap_window_seconds + 1))
    assert await outcomes(2) == ["sent", "suppressed"]
    harness.clock.advance(timedelta(days=1))
    assert await outcomes(1) == ["sent"]
    assert len(harness.twilio.creates) == 4


async def test_body_over_1600_characters_is_refused_and_recorded(harness: SenderHarness) -> None:
    await harness.consume(harness.sender())
    key = unique_key()
    body = "x" * 1601
    await harness.publish(request_event(key, body=body))
    row = await harness.row_reaches(key, "permanently_failed")
    assert (row["reason"], row["chars"], row["body"]) == ("body_too_long", 1601, body)
    assert (await harness.message(key))["status"] == "permanently_failed"
    assert harness.twilio.creates == []

    long_unicode = unique_key()
    await harness.publish(request_event(long_unicode, body="ça va? " * 20))
    row = await harness.row_reaches(long_unicode, "sent")
    assert (row["encoding"], row["segments"]) == ("UCS-2", 3)

    async def no_claim_left() -> bool:
        return await harness.db["outbound_messages"].count_documents({"claim": {"$exists": 1}}) == 0

    await eventually(no_claim_left)


async def test_first_sends_to_a_new_number_at_once_all_get_their_slot(
    harness: SenderHarness,
) -> None:
    """Found end to end: a medium-crisis support text and the greeting requested together for a
    number never texted before; the one that lost the race to create the recipient's row was
    refused as "send_cap" and never sent."""
    store = MongoRecipients(harness.db)
    caps = [CapPolicy(40, timedelta(hours=1)), CapPolicy(60, timedelta(days=1))]
    now = harness.clock.now()
    for attempt in range(5):
        phone = f"+1555777{attempt:04d}"
        gates = await asyncio.gather(
            *(
                store.take_send_slot(phone, now, caps, compliance=False, capped=True)
                for _ in range(4)
            )
        )
        assert gates == [Gate.OPEN] * 4
