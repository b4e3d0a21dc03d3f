"""Every outcome of a dispatch against the in-memory unit of work and a scripted provider: sent,
an in-doubt attempt resolved at the provider instead of sent again, retried, exhausted and
parked, refused for good (21610 also opts the recipient out), suppressed by an opt-out or the
cap — and the exactly-once rules under it: one claim among racing senders, a takeover only
after the lease, and an outcome whose write was lost resolved without a second send."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest

from services.sms_sender.records import RETRIES_EXHAUSTED, Claim, SendOutcome, SendRecord
from services.sms_sender.transport import OutgoingSms, SendFailure
from shared.events import Envelope
from shared.events.catalog import SmsOptOutChanged
from tests.unit.sms_sender.world import BODY, NOW, PHONE, World, anew, request

SERVER_ERROR = SendFailure("HTTP 500", http_status=500, code=20500)
TIMEOUT = SendFailure("timed out", http_status=None, code=None)
TOO_MANY = SendFailure("HTTP 429", http_status=429, code=20429)
INVALID_NUMBER = SendFailure("HTTP 400", http_status=400, code=21211)
UNSUBSCRIBED = SendFailure("HTTP 400", http_status=400, code=21610)


async def test_a_500_is_retried_after_its_delay_and_asks_the_provider_first() -> None:
    world = World()
    world.provider.fail_next(SERVER_ERROR)
    await world.deliver_request(request("reply:1"))

    pending = await world.send("reply:1")
    assert (pending.status, pending.attempts, pending.claim) == ("pending", 1, None)
    assert (pending.error, pending.error_code, pending.in_doubt_since) == ("HTTP 500", 20500, NOW)
    assert pending.next_attempt_at == NOW + timedelta(seconds=1)  # half of 2 s: full jitter
    assert pending.history[-1].retry_in_seconds == 1.0
    assert await world.poller.run_once() == 0  # not due yet

    await world.due_again("reply:1")
    assert await world.poller.run_once() == 1

    send = await world.send("reply:1")
    assert (send.status, send.attempts) == ("sent", 2)
    assert world.provider.lookups == [PHONE]  # the 500 might have created it
    assert len(world.provider.created) == 1
    assert [entry.outcome for entry in send.history] == ["retry", "sent"]
    assert world.steps("reply:1") == [(0, "sent")]  # a retry is not a step anyone sees


async def test_a_timeout_the_provider_did_take_is_resolved_not_sent_again() -> None:
    world = World()
    world.provider.fail_next(TIMEOUT, creates=True)
    await world.deliver_request(request("reply:1"))
    await world.due_again("reply:1")
    assert await world.poller.run_once() == 1

    [(_, message)] = world.provider.created
    send = await world.send("reply:1")
    assert (send.status, send.provider_sid) == ("sent", message.sid)
    assert [call.key for call in world.provider.calls] == ["reply:1"]
    assert send.history[-1].outcome == "resolved"


async def test_a_429_is_retried_without_asking_the_provider() -> None:
    world = World()
    world.provider.fail_next(TOO_MANY)
    await world.deliver_request(request("reply:1"))
    assert (await world.send("reply:1")).in_doubt_since is None

    await world.due_again("reply:1")
    await world.poller.run_once()

    assert (await world.send("reply:1")).status == "sent"
    assert world.provider.lookups == []


async def test_a_failed_lookup_keeps_the_send_in_doubt_and_retries() -> None:
    world = World()
    world.provider.fail_next(TIMEOUT)
    await world.deliver_request(request("reply:1"))
    world.provider.lookup_failure = SERVER_ERROR
    await world.due_again("reply:1")
    await world.poller.run_once()

    send = await world.send("reply:1")
    assert (send.status, send.attempts, send.in_doubt_since) == ("pending", 2, NOW)
    assert send.error == "in-doubt lookup failed: HTTP 500"
    assert len(world.provider.calls) == 1  # nothing sent while in doubt


async def test_a_send_out_of_attempts_fails_and_its_request_is_parked() -> None:
    world = World(max_attempts=2)
    world.provider.fail_next(SERVER_ERROR, SERVER_ERROR)
    event = request("reply:1")
    await world.deliver_request(event)
    await world.due_again("reply:1")
    assert await world.poller.run_once() == 1

    send = await world.send("reply:1")
    assert (send.status, send.reason, send.error_code) == ("failed", RETRIES_EXHAUSTED, 20500)
    assert (send.claim, send.next_attempt_at, send.in_doubt_since) == (None, None, NOW)
    [(parked, attempts, error)] = world.parking.parked
    assert (parked.id, parked.idempotency_key, parked.payload) == (
        event.id,
        "reply:1",
        event.payload,
    )
    assert (attempts, error) == (2, "HTTP 500")
    assert world.steps("reply:1") == [(0, "failed")]
    assert await world.poller.run_once() == 0


async def test_a_permanent_error_is_recorded_at_once_and_never_retried() -> None:
    world = World()
    world.provider.fail_next(INVALID_NUMBER)
    await world.deliver_request(request("reply:1"))

    send = await world.send("reply:1")
    assert (send.status, send.reason) == ("permanently_failed", "invalid 'To' phone number")
    assert (send.error_code, send.next_attempt_at) == (21211, None)
    assert world.steps("reply:1") == [(0, "permanently_failed")]
    assert world.uow.emitted_payloads(SmsOptOutChanged) == []
    world.clock.advance(timedelta(days=1))
    assert await world.poller.run_once() == 0


async def test_21610_opts_the_recipient_out_and_tells_everyone_in_the_outcomes_write() -> None:
    world = World()
    world.provider.fail_next(UNSUBSCRIBED)
    await world.deliver_request(request("reply:1"))

    send = await world.send("reply:1")
    assert (send.status, send.error_code) == ("permanently_failed", 21610)
    assert await world.uow.recipients.opted_out(PHONE)
    [change] = world.uow.emitted_payloads(SmsOptOutChanged)
    assert (change.phone, change.opted_out, change.source) == (PHONE, True, "carrier")
    assert (change.user_id, change.changed_at) == ("user-1", NOW)

    await world.deliver_request(request("reply:2"))
    assert (await world.send("reply:2")).reason == "opted_out"
    assert len(world.provider.calls) == 1


async def test_an_opted_out_number_gets_only_compliance_confirmations() -> None:
    world = World()
    await world.opt_out(True, NOW - timedelta(minutes=1))
    await world.deliver_request(request("reply:1"))
    await world.deliver_request(request("help:1", kind="compliance"))
    await world.deliver_request(request("opt-out:1", compliance=True))

    assert [(await world.send(key)).status for key in ("reply:1", "help:1", "opt-out:1")] == [
        "suppressed",
        "suppressed",
        "sent",
    ]
    assert (await world.send("reply:1")).reason == "opted_out"
    assert world.steps("reply:1") == [(0, "suppressed")]
    assert [call.key for call in world.provider.calls] == ["opt-out:1"]


async def test_the_send_cap_suppresses_all_but_crisis_and_compliance_answers() -> None:
    world = World(send_cap=2)
    for n in range(3):
        await world.deliver_request(request(f"reply:{n}"))
    await world.deliver_request(request("crisis:1", kind="crisis"))
    await world.deliver_request(request("help:1", kind="compliance"))

    statuses = [(await world.send(f"reply:{n}")).status for n in range(3)]
    assert statuses == ["sent", "sent", "suppressed"]
    assert (await world.send("reply:2")).reason == "send_cap"
    assert (await world.send("crisis:1")).status == "sent"
    assert (await world.send("help:1")).status == "sent"
    recipient = await world.uow.recipients.get(PHONE)
    assert recipient is not None
    assert len(recipient.send_times) == 4  # the exempt ones still count

    world.clock.advance(timedelta(hours=1, seconds=1))
    await world.deliver_request(request("reply:3"))
    assert (await world.send("reply:3")).status == "sent"


async def test_a_retry_keeps_its_place_under_the_cap() -> None:
    world = World(send_cap=1)
    world.provider.fail_next(TOO_MANY)
    await world.deliver_request(request("reply:1"))
    assert (await world.send("reply:1")).cap_slot_at == NOW

    await world.due_again("reply:1")
    await world.poller.run_once()

    assert (await world.send("reply:1")).status == "sent"
    recipient = await world.uow.recipients.get(PHONE)
    assert recipient is not None
    assert recipient.send_times == (NOW,)


async def test_of_senders_racing_for_one_send_exactly_one_sends() -> None:
    world = World()
    # The recording process holds the first attempt's claim; two pollers try to take it too.
    recorded = await world.requests.record(request("reply:1"), world.uow.sends)
    assert recorded is not None

    outcomes = await asyncio.gather(
        world.dispatcher.dispatch_claimed(recorded),
        *(world.dispatcher.dispatch("reply:1") for _ in range(2)),
    )

    assert sorted(outcomes, key=str) == [None, None, "sent"]
    assert len(world.provider.calls) == 1


async def test_a_recorded_request_is_claimed_in_the_same_write_and_claimed_once() -> None:
    world = World()
    claim = await world.requests.record(request("reply:1"), world.uow.sends)
    assert claim is not None
    send = await world.send("reply:1")
    assert (send.status, send.attempts) == ("sending", 1)
    assert send.lease_until == NOW + timedelta(seconds=60)
    assert await world.dispatcher.dispatch("reply:1") is None  # nobody else may take it
    assert await world.requests.record(anew(request("reply:1")), world.uow.sends) is None


async def test_a_holders_lease_is_taken_over_only_when_it_ran_out_and_asks_first() -> None:
    world = World()
    # The sender that recorded the request (and so claimed it) has Twilio take the message,
    # and dies before recording that.
    dead = await world.requests.record(request("reply:1"), world.uow.sends)
    assert dead is not None
    world.provider.create(OutgoingSms("reply:1", PHONE, BODY, "reply"))

    assert await world.poller.run_once() == 0  # its lease still holds
    world.clock.advance(timedelta(seconds=61))
    assert await world.poller.run_once() == 1

    send = await world.send("reply:1")
    assert (send.status, send.attempts) == ("sent", 2)
    assert send.history[-1].outcome == "resolved"
    assert world.provider.calls == []  # found, not sent again
    # The dead holder's late outcome cannot overwrite the one recorded.
    late = SendOutcome("failed", NOW, send.history[-1], reason="late")
    assert await world.uow.sends.finish(dead, late, lambda _after: []) is None
    assert (await world.send("reply:1")).status == "sent"


async def test_the_in_doubt_lookup_never_adopts_another_sends_identical_message() -> None:
    world = World()
    await world.deliver_request(request("proactive:1", kind="proactive"))
    # The sender that recorded (and claimed) it died before sending.
    assert await world.requests.record(request("proactive:2"), world.uow.sends) is not None

    world.clock.advance(timedelta(seconds=61))
    assert await world.poller.run_once() == 1

    first, second = await world.send("proactive:1"), await world.send("proactive:2")
    assert second.status == "sent"
    assert first.provider_sid != second.provider_sid
    assert len(world.provider.calls) == 2


async def test_an_outcome_whose_write_was_lost_is_resolved_without_a_second_send(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World()
    finish = world.uow.sends.finish
    crashed: list[Claim] = []

    async def crash_once(
        claim: Claim,
        outcome: SendOutcome,
        events: Callable[[SendRecord], Sequence[Envelope[Any]]],
    ) -> SendRecord | None:
        if crashed:
            return await finish(claim, outcome, events)
        crashed.append(claim)
        raise ConnectionError("the database went away before the write")

    monkeypatch.setattr(world.uow.sends, "finish", crash_once)
    with pytest.raises(ConnectionError):
        await world.deliver_request(request("reply:1"))
    claimed = await world.send("reply:1")
    assert (claimed.status, claimed.provider_sid) == ("sending", None)  # never written
    assert world.uow.emitted == []

    world.clock.advance(timedelta(seconds=61))
    assert await world.poller.run_once() == 1

    send = await world.send("reply:1")
    assert (send.status, send.provider_sid) == ("sent", world.provider.created[0][1].sid)
    assert len(world.provider.calls) == 1
    assert world.steps("reply:1") == [(0, "sent")]
