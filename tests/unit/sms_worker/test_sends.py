"""The conversation log's outbound rows against the in-memory unit of work: logged with the
worker's own request, created from the first step for sends other services asked for, moved by
steps in any order, once, never backwards."""

from __future__ import annotations

from datetime import timedelta

from domain import send_status
from shared.events import Envelope, new_event
from shared.events.catalog import SmsOutboundRequested
from tests.unit.sms_worker.fake_worker import AT, PHONE, FakeSmsWorker

KEY = "reply:e1"
SECOND = timedelta(seconds=1)


def _request(body: str = "Hi Ana") -> Envelope[SmsOutboundRequested]:
    return new_event(
        SmsOutboundRequested(to_number=PHONE, body=body, kind="reply", user_id="u1"),
        idempotency_key=KEY,
        occurred_at=AT,
    )


async def test_request_then_steps_moves_the_row_forward() -> None:
    worker = FakeSmsWorker()
    await worker.request_sms(_request())
    row = await worker.uow.messages.outbound(KEY)
    assert row is not None
    assert (row.body, row.kind, row.status, row.user_id, row.created_at) == (
        "Hi Ana",
        "reply",
        send_status.PENDING,
        "u1",
        AT,
    )
    await worker.deliver_update(worker.send_step(KEY, "sending", AT + SECOND))
    await worker.deliver_update(
        worker.send_step(KEY, "sent", AT + 2 * SECOND, provider_sid="SM1", user_id="u1")
    )
    await worker.deliver_update(
        worker.send_step(KEY, "undelivered", AT + 9 * SECOND, provider_sid="SM1", error_code=30003)
    )
    row = await worker.uow.messages.outbound(KEY)
    assert row is not None
    assert (row.status, row.provider_sid, row.error_code, row.updated_at) == (
        "undelivered",
        "SM1",
        30003,
        AT + 9 * SECOND,
    )


async def test_a_send_another_service_asked_for_gets_its_row_from_its_steps() -> None:
    worker = FakeSmsWorker()
    await worker.deliver_update(
        worker.send_step(
            KEY,
            "delivered",
            AT + 5 * SECOND,
            provider_sid="SM1",
            user_id="u1",
            body="Your receipt",
            kind="billing",
        )
    )
    await worker.deliver_update(worker.send_step(KEY, "sending", AT + SECOND))  # older
    row = await worker.uow.messages.outbound(KEY)
    assert row is not None
    assert (row.status, row.body, row.kind, row.provider_sid) == (
        "delivered",
        "Your receipt",
        "billing",
        "SM1",
    )


async def test_duplicates_change_nothing() -> None:
    worker = FakeSmsWorker()
    request = _request()
    step = worker.send_step(KEY, "sent", AT + SECOND, provider_sid="SM1")
    await worker.request_sms(request)
    await worker.deliver_update(step)
    row = await worker.uow.messages.outbound(KEY)
    await worker.deliver_update(step)  # redelivered: no inbox row needed to change nothing
    # The same step under another event id (the sender published it twice) is no step forward.
    await worker.deliver_update(
        worker.send_step(KEY, "sent", AT + 3 * SECOND, provider_sid="SM1", user_id="u1")
    )
    assert await worker.uow.messages.outbound(KEY) == row


async def test_a_final_status_stays_final_until_an_operator_reopens_the_send() -> None:
    worker = FakeSmsWorker()
    await worker.request_sms(_request())
    await worker.deliver_update(worker.send_step(KEY, "failed", AT + SECOND, error_code=30008))
    await worker.deliver_update(worker.send_step(KEY, "delivered", AT + 2 * SECOND))
    row = await worker.uow.messages.outbound(KEY)
    assert row is not None
    assert row.status == "failed"

    await worker.deliver_update(worker.send_step(KEY, "pending", AT + 60 * SECOND, reopened=1))
    await worker.deliver_update(worker.send_step(KEY, "failed", AT + 3 * SECOND))  # round 0
    row = await worker.uow.messages.outbound(KEY)
    assert row is not None
    assert (row.status, row.reopened, row.error_code) == ("pending", 1, 30008)
