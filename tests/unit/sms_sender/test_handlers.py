"""Every sender handler against the in-memory unit of work: a request recorded and sent once
(refused when its body cannot go, reopened when it ran out of retries), delivery statuses
forward only (set aside while the send is claimed), opt-outs newest first — state and emitted
events, in milliseconds. The same paths through the real broker, database and SDK are in
tests/integration/sms_sender/; the fake is held to the real repositories by the contract tests
there."""

from __future__ import annotations

from datetime import timedelta

from services.sms_sender.records import RETRIES_EXHAUSTED, Gate, Recipient
from services.sms_sender.transport import OutgoingSms, ProviderMessage, SendFailure
from tests.unit.sms_sender.world import BODY, NOW, PHONE, World, anew, request

SERVER_ERROR = SendFailure("HTTP 500", http_status=500, code=20500)


async def test_a_request_is_recorded_and_sent_once_however_often_it_arrives() -> None:
    world = World()
    event = request("reply:1")

    await world.deliver_request(event)
    await world.deliver_request(event)  # the broker delivered it again
    await world.deliver_request(anew(event))  # another request, the same key

    [(sms, message)] = world.provider.created
    assert (sms.key, sms.to_number, sms.body) == ("reply:1", PHONE, BODY)
    send = await world.send("reply:1")
    assert (send.status, send.provider_sid, send.transport) == ("sent", message.sid, "twilio")
    assert (send.attempts, send.encoding, send.segments, send.claim) == (1, "GSM-7", 1, None)
    assert (send.event_id, send.correlation_id) == (str(event.id), "corr-reply:1")
    assert [entry.outcome for entry in send.history] == ["sent"]
    assert world.steps("reply:1") == [(0, "sent")]


async def test_a_body_that_cannot_go_is_refused_and_never_sent() -> None:
    world = World()
    await world.deliver_request(request("reply:long", body="x" * 1601))
    await world.deliver_request(request("reply:blank", body="   "))

    long, blank = await world.send("reply:long"), await world.send("reply:blank")
    assert (long.status, long.reason, long.chars) == ("permanently_failed", "body_too_long", 1601)
    assert long.body == "x" * 1601  # as received, never trimmed
    assert (blank.status, blank.reason) == ("permanently_failed", "body_empty")
    assert long.next_attempt_at is None
    assert world.provider.calls == []
    assert world.steps("reply:long") == [(0, "permanently_failed")]


async def test_a_replayed_request_starts_a_send_out_of_retries_over_once() -> None:
    world = World(max_attempts=1)
    world.provider.fail_next(SERVER_ERROR)
    event = request("reply:1")
    await world.deliver_request(event)
    failed = await world.send("reply:1")
    assert (failed.status, failed.reason) == ("failed", RETRIES_EXHAUSTED)

    # The parked request replayed: its key is recorded, the send starts over.
    await world.deliver_request(event)
    send = await world.send("reply:1")
    assert (send.status, send.reopened, send.attempts, send.reason) == ("sent", 1, 1, None)
    assert world.steps("reply:1") == [(0, "failed"), (1, "pending"), (1, "sent")]

    # Again, under another event id: nothing out of retries to reopen, nothing sent.
    await world.deliver_request(anew(event))
    assert len(world.provider.created) == 1
    assert world.steps("reply:1")[-1] == (1, "sent")


async def test_a_request_under_another_event_id_reopens_an_exhausted_send() -> None:
    world = World(max_attempts=1)
    world.provider.fail_next(SERVER_ERROR)
    event = request("reply:1")
    await world.deliver_request(event)

    await world.deliver_request(anew(event))

    send = await world.send("reply:1")
    assert (send.status, send.reopened) == ("sent", 1)
    assert world.steps("reply:1") == [(0, "failed"), (1, "pending"), (1, "sent")]


async def test_statuses_move_a_send_forward_only_whatever_their_order() -> None:
    world = World()
    await world.deliver_request(request("reply:1"))
    sid = (await world.send("reply:1")).provider_sid
    assert sid is not None

    await world.callback(sid, "delivered", "reply:1")
    await world.callback(sid, "sent", "reply:1")
    await world.callback(sid, "queued", None)  # no key: found by its sid
    await world.callback(sid, "undelivered", "reply:1", error_code=30003)  # final stays final
    await world.callback(sid, "received", "reply:1")  # not an outbound status

    send = await world.send("reply:1")
    assert (send.status, send.error_code) == ("delivered", None)
    assert world.steps("reply:1") == [(0, "sent"), (0, "delivered")]


async def test_an_undelivered_status_is_recorded_with_its_error_code() -> None:
    world = World()
    await world.deliver_request(request("reply:1"))
    sid = (await world.send("reply:1")).provider_sid
    assert sid is not None

    await world.callback(sid, "undelivered", None, error_code=30006)

    send = await world.send("reply:1")
    assert (send.status, send.error_code) == ("undelivered", 30006)
    [*_, step] = world.uow.emitted
    assert (step.payload.status, step.payload.error_code) == ("undelivered", 30006)


async def test_statuses_for_unknown_or_other_messages_change_nothing() -> None:
    world = World()
    await world.deliver_request(request("reply:1"))
    before = await world.send("reply:1")
    emitted = len(world.uow.emitted)

    await world.callback("SMnot-ours", "delivered", None)
    await world.callback("SMsomeone-else", "delivered", "reply:1")

    assert await world.send("reply:1") == before
    assert len(world.uow.emitted) == emitted


async def test_a_status_that_beats_the_senders_own_record_is_applied_after_it() -> None:
    world = World()

    async def delivered_at_once(sms: OutgoingSms, message: ProviderMessage) -> None:
        await world.callback(message.sid, "delivered", sms.key)
        claimed = await world.send(sms.key)
        # Set aside on the claimed send; nothing published yet.
        assert (claimed.status, claimed.reported_status) == ("sending", "delivered")
        assert world.steps(sms.key) == []

    world.provider.on_create = delivered_at_once
    await world.deliver_request(request("reply:1"))

    send = await world.send("reply:1")
    assert (send.status, send.provider_sid) == ("delivered", world.provider.created[0][1].sid)
    assert world.steps("reply:1") == [(0, "sent"), (0, "delivered")]


async def test_a_send_given_up_takes_the_providers_word_that_it_went_out() -> None:
    world = World(max_attempts=1)
    world.provider.fail_next(SendFailure("timed out", http_status=None, code=None), creates=True)
    await world.deliver_request(request("reply:1"))
    assert (await world.send("reply:1")).retries_exhausted
    sid = world.provider.created[0][1].sid

    await world.callback(sid, "delivered", "reply:1")

    send = await world.send("reply:1")
    assert (send.status, send.reason, send.provider_sid) == ("delivered", None, sid)
    assert world.steps("reply:1") == [(0, "failed"), (0, "delivered")]


async def test_opt_outs_apply_newest_first_and_gate_the_next_send() -> None:
    world = World()
    await world.opt_out(True, NOW)
    await world.opt_out(False, NOW - timedelta(minutes=5))  # older: reordered on the way
    assert world.uow.emitted == []  # a read model: nothing to tell anyone

    assert await world.uow.recipients.get(PHONE) == Recipient(PHONE, True, NOW, "keyword", ())
    assert await world.uow.recipients.opted_out(PHONE)
    await world.deliver_request(request("reply:1"))
    assert (await world.send("reply:1")).reason == Gate.OPTED_OUT.value

    await world.opt_out(False, NOW + timedelta(minutes=1))
    await world.deliver_request(request("reply:2"))
    assert (await world.send("reply:2")).status == "sent"
