"""`conversation_state`: the fake and the server agree — a bounded window, each exchange added
once, our own messages not counted, summaries stored only over the one they were written from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.sms_worker.domain.responder import HistoryEntry
from services.sms_worker.domain.summary import ConversationWindow, SummaryUpdate
from services.sms_worker.records import ConversationEntry
from services.sms_worker.unit_of_work import SmsWork
from tests.integration.sms_worker.conftest import SmsWorkIn

pytestmark = pytest.mark.integration

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def _exchange(n: int) -> list[ConversationEntry]:
    at = AT + timedelta(minutes=n)
    return [
        ConversationEntry(f"in:{n}", "inbound", f"message {n}", at),
        ConversationEntry(f"out:reply:{n}", "outbound", f"reply {n}", at, kind="reply"),
    ]


async def test_a_conversation_starts_once_and_empty(sms_work_in: SmsWorkIn) -> None:
    assert await sms_work_in(lambda uow: uow.conversations.get("u1")) is None
    assert await sms_work_in(lambda uow: uow.conversations.window("u1", 5)) == ConversationWindow(
        ()
    )
    await sms_work_in(lambda uow: uow.conversations.start("u1", AT, AT))
    await sms_work_in(
        lambda uow: uow.conversations.add_exchange("u1", _exchange(1), keep=4, now=AT)
    )
    await sms_work_in(lambda uow: uow.conversations.start("u1", AT + timedelta(days=1), AT))
    conversation = await sms_work_in(lambda uow: uow.conversations.get("u1"))
    assert conversation is not None
    assert (conversation.started_at, conversation.interactions, len(conversation.entries)) == (
        AT,
        1,
        2,
    )


async def test_exchanges_are_added_once_and_the_window_is_bounded(sms_work_in: SmsWorkIn) -> None:
    await sms_work_in(lambda uow: uow.conversations.start("u1", AT, AT))
    for n in (1, 2, 3, 3):  # the last is a replay

        async def add(uow: SmsWork, n: int = n) -> None:
            await uow.conversations.add_exchange("u1", _exchange(n), keep=4, now=AT)

        await sms_work_in(add)
    proactive = ConversationEntry("out:proactive:1", "outbound", "Hi", AT, kind="proactive")
    for _ in range(2):
        await sms_work_in(
            lambda uow: uow.conversations.remember_outbound("u1", proactive, keep=4, now=AT)
        )
    conversation = await sms_work_in(lambda uow: uow.conversations.get("u1"))
    assert conversation is not None
    assert [e.id for e in conversation.entries] == [
        "out:reply:2",
        "in:3",
        "out:reply:3",
        "out:proactive:1",
    ]
    assert conversation.entries[-1] == proactive
    assert conversation.entries[1] == _exchange(3)[0]
    assert (conversation.interactions, conversation.last_message_at) == (
        3,
        AT + timedelta(minutes=3),
    )
    window = await sms_work_in(lambda uow: uow.conversations.window("u1", 2))
    assert window == ConversationWindow(
        (
            HistoryEntry("outbound", "reply 3", "out:reply:3"),
            HistoryEntry("outbound", "Hi", "out:proactive:1"),
        )
    )


async def test_nothing_is_added_to_a_conversation_never_started(sms_work_in: SmsWorkIn) -> None:
    await sms_work_in(
        lambda uow: uow.conversations.add_exchange("u1", _exchange(1), keep=4, now=AT)
    )
    assert await sms_work_in(lambda uow: uow.conversations.get("u1")) is None


async def test_a_summary_is_stored_only_over_the_one_it_was_written_from(
    sms_work_in: SmsWorkIn,
) -> None:
    await sms_work_in(lambda uow: uow.conversations.start("u1", AT, AT))
    await sms_work_in(
        lambda uow: uow.conversations.add_exchange("u1", _exchange(1), keep=4, now=AT)
    )
    first = SummaryUpdate("Ana cares for her mom.", 1, "out:reply:1", 40)
    assert await sms_work_in(lambda uow: uow.conversations.save_summary("u1", first, AT)) is True
    raced = SummaryUpdate("Another take.", 1, "out:reply:1", 40)
    assert await sms_work_in(lambda uow: uow.conversations.save_summary("u1", raced, AT)) is False
    second = SummaryUpdate("Ana, mom, tired.", 2, "in:1", None)
    assert await sms_work_in(lambda uow: uow.conversations.save_summary("u1", second, AT)) is True
    window = await sms_work_in(lambda uow: uow.conversations.window("u1", 4))
    assert (window.summary, window.summary_version, window.summarised_through) == (
        "Ana, mom, tired.",
        2,
        "in:1",
    )


async def test_a_first_exchange_starts_the_conversation_or_joins_the_one_there(
    sms_work_in: SmsWorkIn,
) -> None:
    async def first(uow: SmsWork, user_id: str, n: int) -> None:
        await uow.conversations.start_with(
            user_id, _exchange(n), started_at=AT + timedelta(minutes=n), keep=4, now=AT
        )

    await sms_work_in(lambda uow: first(uow, "u1", 1))
    await sms_work_in(lambda uow: uow.conversations.start("u2", AT, AT))
    await sms_work_in(lambda uow: first(uow, "u2", 2))
    await sms_work_in(lambda uow: first(uow, "u2", 2))  # a replay adds nothing

    one = await sms_work_in(lambda uow: uow.conversations.get("u1"))
    assert one is not None
    assert (one.started_at, one.entries, one.interactions, one.last_message_at) == (
        AT + timedelta(minutes=1),
        tuple(_exchange(1)),
        1,
        AT + timedelta(minutes=1),
    )
    two = await sms_work_in(lambda uow: uow.conversations.get("u2"))
    assert two is not None
    assert (two.started_at, two.entries, two.interactions) == (AT, tuple(_exchange(2)), 1)
