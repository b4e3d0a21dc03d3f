"""`messages` and `attachments`, the conversation log: the fake and the server agree — inbound
rows kept as first written and counted for the rate limit, outbound rows following requests
and send steps in any order, forward only."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.send_status import SendStatus
from services.sms_worker.records import (
    Attachment,
    InboundSmsRecord,
    OutboundRequest,
    OutboundSmsRecord,
    SendUpdate,
)
from services.sms_worker.storage import MongoMessages
from services.sms_worker.unit_of_work import SmsWork
from shared.mongo import Database
from tests.integration.sms_worker.conftest import SmsWorkIn

pytestmark = pytest.mark.integration

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
REQUEST = OutboundRequest(
    key="reply:e1", user_id="u1", body="Hi Ana", kind="reply", requested_at=AT
)


def _inbound(n: int, **changes: Any) -> InboundSmsRecord:
    record = InboundSmsRecord(
        id=f"in:SM{n}",
        user_id="u1",
        body=f"message {n}",
        provider_sid=f"SM{n}",
        status="received",
        created_at=AT + n * SECOND,
        updated_at=AT + n * SECOND,
        route="responder",
        event_id=f"e{n}",
    )
    return dataclasses.replace(record, **changes)


async def test_an_inbound_message_and_its_media_keep_their_first_record(
    sms_work_in: SmsWorkIn,
) -> None:
    media = tuple(
        Attachment(f"in:SM1:{i}", "in:SM1", "u1", f"https://media/{i}", "image/jpeg", i, AT)
        for i in (1, 0)
    )
    message = _inbound(1, num_media=2, attachments=media)
    await sms_work_in(lambda uow: uow.messages.record_inbound(message))
    await sms_work_in(lambda uow: uow.messages.record_inbound(_inbound(1, body="changed")))
    stored = await sms_work_in(lambda uow: uow.messages.inbound("in:SM1"))
    assert stored == _inbound(1, num_media=2, attachments=(media[1], media[0]))
    assert await sms_work_in(lambda uow: uow.messages.inbound("in:SM9")) is None


async def test_a_rejected_message_is_kept_without_a_user(sms_work_in: SmsWorkIn) -> None:
    rejected = _inbound(
        2, user_id=None, status="rejected", route=None, event_id=None, error="not a phone"
    )
    await sms_work_in(lambda uow: uow.messages.record_inbound(rejected))
    assert await sms_work_in(lambda uow: uow.messages.inbound("in:SM2")) == rejected


async def test_the_rate_count_is_the_user_s_counted_messages_in_the_window(
    sms_work_in: SmsWorkIn,
) -> None:
    rows = [
        _inbound(1),
        _inbound(2),
        _inbound(3, rate_exempt=True),
        _inbound(4, user_id="u2"),
        _inbound(5),
        _inbound(6),
    ]
    for row in rows:

        async def record(uow: SmsWork, row: InboundSmsRecord = row) -> None:
            await uow.messages.record_inbound(row)

        await sms_work_in(record)
    count = await sms_work_in(
        lambda uow: uow.messages.inbound_count(
            "u1", AT + SECOND, AT + 5 * SECOND, excluding="in:SM5"
        )
    )
    assert count == 1  # SM2: SM1 is at the open end, SM3 exempt, SM4 another's, SM6 later


async def test_an_inbound_message_and_the_requests_that_answer_it_are_logged_together(
    sms_work_in: SmsWorkIn,
) -> None:
    other = dataclasses.replace(REQUEST, key="crisis:e1", body="Call 988", kind="crisis")
    await sms_work_in(lambda uow: uow.messages.record_inbound(_inbound(1), [REQUEST, other]))
    await sms_work_in(lambda uow: uow.messages.record_inbound(_inbound(1), [REQUEST]))
    assert await sms_work_in(lambda uow: uow.messages.inbound("in:SM1")) == _inbound(1)
    for request in (REQUEST, other):

        async def read(uow: SmsWork, key: str = request.key) -> OutboundSmsRecord | None:
            return await uow.messages.outbound(key)

        row = await sms_work_in(read)
        assert row is not None
        assert (row.body, row.kind, row.status, row.created_at) == (
            request.body,
            request.kind,
            "pending",
            AT,
        )


async def test_a_request_makes_a_pending_row(sms_work_in: SmsWorkIn) -> None:
    await sms_work_in(lambda uow: uow.messages.record_request(REQUEST))
    await sms_work_in(lambda uow: uow.messages.record_request(REQUEST))
    assert await sms_work_in(lambda uow: uow.messages.outbound("reply:e1")) == OutboundSmsRecord(
        key="reply:e1",
        user_id="u1",
        body="Hi Ana",
        kind="reply",
        status="pending",
        created_at=AT,
        updated_at=AT,
    )


async def test_steps_move_the_row_forward_only(sms_work_in: SmsWorkIn) -> None:
    await sms_work_in(lambda uow: uow.messages.record_request(REQUEST))
    steps = [
        (SendUpdate("reply:e1", "u1", "sent", AT + 2 * SECOND, provider_sid="SM1"), True),
        (SendUpdate("reply:e1", "u1", "sending", AT + SECOND), False),
        (SendUpdate("reply:e1", "u1", "sent", AT + 2 * SECOND, provider_sid="SM1"), False),
        (SendUpdate("reply:e1", None, "failed", AT + 3 * SECOND, error_code=30008), True),
        (SendUpdate("reply:e1", None, "delivered", AT + 4 * SECOND, provider_sid="SM1"), False),
    ]
    for step, moved in steps:

        async def apply(uow: SmsWork, step: SendUpdate = step) -> bool:
            return await uow.messages.apply_update(step)

        assert await sms_work_in(apply) is moved
    row = await sms_work_in(lambda uow: uow.messages.outbound("reply:e1"))
    assert row is not None
    assert (row.status, row.provider_sid, row.error_code, row.updated_at, row.user_id) == (
        "failed",
        "SM1",
        30008,
        AT + 3 * SECOND,
        "u1",
    )
    # An operator's retry starts a new round, which any step of the old one cannot undo.
    retry = SendUpdate("reply:e1", None, "pending", AT + 9 * SECOND, reopened=1)
    assert await sms_work_in(lambda uow: uow.messages.apply_update(retry)) is True
    old = SendUpdate("reply:e1", None, "failed", AT + 10 * SECOND, error_code=30003)
    assert await sms_work_in(lambda uow: uow.messages.apply_update(old)) is False
    row = await sms_work_in(lambda uow: uow.messages.outbound("reply:e1"))
    assert row is not None
    assert (row.status, row.reopened) == ("pending", 1)


async def test_a_step_before_its_request_makes_the_row_the_request_fills_in(
    sms_work_in: SmsWorkIn,
) -> None:
    step = SendUpdate("reply:e1", "u1", "delivered", AT + 5 * SECOND, provider_sid="SM1")
    assert await sms_work_in(lambda uow: uow.messages.apply_update(step)) is True
    early = await sms_work_in(lambda uow: uow.messages.outbound("reply:e1"))
    assert early is not None
    assert (early.status, early.body, early.kind, early.created_at) == (
        "delivered",
        None,
        None,
        AT + 5 * SECOND,
    )
    await sms_work_in(lambda uow: uow.messages.record_request(REQUEST))
    assert await sms_work_in(lambda uow: uow.messages.outbound("reply:e1")) == OutboundSmsRecord(
        key="reply:e1",
        user_id="u1",
        body="Hi Ana",
        kind="reply",
        status="delivered",
        created_at=AT,
        updated_at=AT + 5 * SECOND,
        provider_sid="SM1",
    )


async def test_request_and_step_in_one_transaction(sms_work_in: SmsWorkIn) -> None:
    step = SendUpdate("reply:e1", "u1", "sending", AT + SECOND)

    async def both(uow: SmsWork) -> bool:
        await uow.messages.apply_update(step)
        await uow.messages.record_request(REQUEST)
        return await uow.messages.apply_update(step)

    assert await sms_work_in(both) is False
    row = await sms_work_in(lambda uow: uow.messages.outbound("reply:e1"))
    assert row is not None
    assert (row.status, row.body) == ("sending", "Hi Ana")


@pytest.mark.parametrize("request_first", [True, False])
async def test_racing_steps_outside_a_transaction_end_at_the_furthest(
    db: Database, request_first: bool
) -> None:
    """The sends consumer applies steps with no transaction: racing steps (and a request)
    re-read and decide again when the row moved under them, so none is lost."""
    messages = MongoMessages(db)
    statuses: tuple[SendStatus, ...] = ("sending", "sent", "delivered", "sent", "sending")
    steps = [
        SendUpdate("reply:e1", "u1", status, AT + n * SECOND, provider_sid="SM1")
        for n, status in enumerate(statuses, start=1)
    ]
    writes = [messages.apply_update(step) for step in steps]
    if request_first:
        await messages.record_request(REQUEST)
    else:
        writes.append(_requested(messages))
    await asyncio.gather(*writes)
    row = await messages.outbound("reply:e1")
    assert row is not None
    assert (row.status, row.body, row.updated_at) == ("delivered", "Hi Ana", AT + 3 * SECOND)


async def _requested(messages: MongoMessages) -> bool:
    await messages.record_request(REQUEST)
    return True
