"""An aggregate's own events kept in its document until published (`shared.row_outbox`), against
the real database and broker: published right after the write and removed; a writer that died
before publishing leaves them for the poller once their lease ran out; a repeat publishes the
same event id; racing pollers claim a document once; removals ride the next write; a publish
that fails hands the event to the outbox; the backlog gauge sees what waits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from shared.broker import Publisher, declare_exchange
from shared.broker.publisher import PublishFailed
from shared.clock import ManualClock
from shared.config import BrokerSettings, OutboxSettings
from shared.events import Envelope, EventRegistry, Payload, new_event
from shared.mongo import Database, Document, ensure_indexes
from shared.outbox import OUTBOX_COLLECTION, Outbox, outbox_indexes
from shared.row_outbox import EVENTS_LEASE_UNTIL, PENDING_EVENTS, RowOutbox, pending_events_index
from shared.state_metrics import outbox_backlog_probe
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

LEASE = 30.0


class Settled(Payload):
    EVENT_TYPE = "test.row_outbox.settled"
    account: str


REGISTRY = EventRegistry()
REGISTRY.register(Settled)


def settled(account: str) -> Envelope[Settled]:
    return new_event(Settled(account=account), idempotency_key=f"settled:{account}")


class Tapped:
    """A private queue bound to the test's event type, so its publishes are routable."""

    def __init__(self, channel: AbstractChannel, queue: AbstractQueue) -> None:
        self.channel = channel
        self.queue = queue

    async def drain(self, settle: float = 0.4) -> list[AbstractIncomingMessage]:
        messages: list[AbstractIncomingMessage] = []
        quiet = 0.0
        while quiet < settle:
            message = await self.queue.get(no_ack=True, fail=False)
            if message is None:
                await asyncio.sleep(0.05)
                quiet += 0.05
            else:
                messages.append(message)
                quiet = 0.0
        return messages


@pytest.fixture
async def tap(
    broker: AbstractRobustConnection, broker_settings: BrokerSettings
) -> AsyncIterator[Tapped]:
    channel = await broker.channel()
    exchange = await declare_exchange(channel, broker_settings.exchange)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, Settled.EVENT_TYPE)
    yield Tapped(channel, queue)
    await channel.close()


@pytest.fixture
async def publisher(
    broker: AbstractRobustConnection, broker_settings: BrokerSettings
) -> AsyncIterator[Publisher]:
    opened = await Publisher.open(broker, broker_settings)
    yield opened
    await opened.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def accounts(db: Database) -> Database:
    await ensure_indexes(db, {"accounts": [pending_events_index()], **outbox_indexes(7)})
    await db.accounts.insert_many([{"_id": f"a{i}", "balance": 0} for i in range(3)])
    return db


def row_outbox(db: Database, publisher: Any, clock: ManualClock, **settings: Any) -> RowOutbox:
    outbox = Outbox(db[OUTBOX_COLLECTION], clock)
    return RowOutbox(
        db.accounts,
        publisher,
        outbox,
        clock,
        OutboxSettings.model_validate({"claim_lease_seconds": LEASE, **settings}),
    )


async def settle_account(events: RowOutbox, account: str) -> list[Document]:
    """The change and its event in one write (not yet published): the entries written."""
    update, entries = events.pushing({"$inc": {"balance": 10}}, [settled(account)])
    assert await events.update_one({"_id": account}, update)
    return entries


async def row(db: Database, account: str) -> Document:
    found = await db.accounts.find_one({"_id": account})
    assert found is not None
    return found


async def test_events_are_published_right_after_the_write_then_removed(
    accounts: Database, publisher: Publisher, clock: ManualClock, tap: Tapped
) -> None:
    events = row_outbox(accounts, publisher, clock)
    entries = await settle_account(events, "a0")
    kept = await row(accounts, "a0")
    assert (kept["balance"], [e["_id"] for e in kept[PENDING_EVENTS]]) == (10, [entries[0]["_id"]])
    assert kept[EVENTS_LEASE_UNTIL] == clock.now() + timedelta(seconds=LEASE)

    assert await events.publish("a0", entries) == 1
    [message] = await tap.drain()
    assert message.message_id == entries[0]["_id"]
    assert REGISTRY.decode(message.body).payload == Settled(account="a0")

    await events.flush()
    cleaned = await row(accounts, "a0")
    assert PENDING_EVENTS not in cleaned
    assert EVENTS_LEASE_UNTIL not in cleaned
    clock.advance(timedelta(seconds=LEASE + 1))
    assert await events.relay_once() == 0  # nothing left for the poller


async def test_a_writer_that_died_before_publishing_leaves_its_events_to_the_poller(
    accounts: Database, publisher: Publisher, clock: ManualClock, tap: Tapped
) -> None:
    died = row_outbox(accounts, publisher, clock)
    entries = await settle_account(died, "a1")  # ... and the process died here

    poller = row_outbox(accounts, publisher, clock)
    assert await poller.relay_once() == 0  # its lease still holds
    clock.advance(timedelta(seconds=LEASE))
    assert await poller.relay_once() == 1

    [message] = await tap.drain()
    assert message.message_id == entries[0]["_id"]
    assert PENDING_EVENTS not in await row(accounts, "a1")


async def test_a_publish_repeated_after_a_crash_carries_the_same_event_id(
    accounts: Database, publisher: Publisher, clock: ManualClock, tap: Tapped
) -> None:
    died = row_outbox(accounts, publisher, clock, mark_sent_delay_seconds=5)
    entries = await settle_account(died, "a0")
    assert await died.publish("a0", entries) == 1  # ... and died before the removal

    clock.advance(timedelta(seconds=LEASE))
    assert await row_outbox(accounts, publisher, clock).relay_once() == 1

    messages = await tap.drain()
    assert [m.message_id for m in messages] == [entries[0]["_id"]] * 2
    ids = {REGISTRY.decode(m.body).id for m in messages}
    assert len(ids) == 1  # consumers' inboxes drop the repeat by this id


async def test_racing_pollers_claim_a_document_once(
    accounts: Database, publisher: Publisher, clock: ManualClock, tap: Tapped
) -> None:
    died = row_outbox(accounts, publisher, clock)
    for account in ("a0", "a1", "a2"):
        await settle_account(died, account)
    clock.advance(timedelta(seconds=LEASE))

    pollers = [row_outbox(accounts, publisher, clock) for _ in range(4)]
    published = await asyncio.gather(*(p.relay_once() for p in pollers))

    assert sum(published) == 3
    payloads = [REGISTRY.decode(m.body).payload for m in await tap.drain()]
    assert sorted(p.account for p in payloads if isinstance(p, Settled)) == [
        "a0",
        "a1",
        "a2",
    ]


async def test_removals_ride_the_next_write_and_do_not_blur_its_result(
    accounts: Database, publisher: Publisher, clock: ManualClock, tap: Tapped
) -> None:
    events = row_outbox(accounts, publisher, clock, mark_sent_delay_seconds=5)
    await events.publish("a0", await settle_account(events, "a0"))
    await events.publish("a1", await settle_account(events, "a1"))  # carries a0's removal
    assert PENDING_EVENTS not in await row(accounts, "a0")
    assert PENDING_EVENTS in await row(accounts, "a1")

    # A write that matches nothing says so, though the removal it carried matched a1.
    update, _ = events.pushing({"$inc": {"balance": 1}}, [settled("nobody")])
    assert not await events.update_one({"_id": "a2", "balance": 999}, update)
    assert PENDING_EVENTS not in await row(accounts, "a1")
    assert PENDING_EVENTS not in await row(accounts, "a2")
    assert len(await tap.drain()) == 2


class RefusingPublisher:
    async def publish_body(
        self, body: bytes, *, event_type: str, message_id: str, correlation_id: str | None
    ) -> None:
        raise PublishFailed("the broker is away")


async def test_an_event_that_cannot_be_published_goes_over_to_the_outbox(
    accounts: Database, clock: ManualClock
) -> None:
    events = row_outbox(accounts, RefusingPublisher(), clock)
    entries = await settle_account(events, "a0")

    assert await events.publish("a0", entries) == 0
    await events.flush()

    adopted = await accounts[OUTBOX_COLLECTION].find_one({"_id": entries[0]["_id"]})
    assert adopted is not None
    assert (adopted["status"], adopted["type"], adopted["body"]) == (
        "pending",
        Settled.EVENT_TYPE,
        entries[0]["body"],
    )
    assert PENDING_EVENTS not in await row(accounts, "a0")


async def test_the_outbox_backlog_gauge_counts_events_kept_in_documents(
    accounts: Database, publisher: Publisher, clock: ManualClock, tap: Tapped
) -> None:
    from prometheus_client import REGISTRY as METRICS

    events = row_outbox(accounts, publisher, clock)
    await settle_account(events, "a0")
    await settle_account(events, "a1")
    clock.advance(timedelta(seconds=5))

    probe = outbox_backlog_probe(accounts[OUTBOX_COLLECTION], clock, "rows-test", [events])
    await probe()
    assert METRICS.get_sample_value("givecare_outbox_backlog_rows", {"outbox": "rows-test"}) == 2
    age = METRICS.get_sample_value(
        "givecare_outbox_oldest_pending_age_seconds", {"outbox": "rows-test"}
    )
    assert age == pytest.approx(5, abs=1)

    clock.advance(timedelta(seconds=LEASE))
    assert await events.relay_once() == 2
    await eventually(lambda: _empty(accounts))
    await probe()
    assert METRICS.get_sample_value("givecare_outbox_backlog_rows", {"outbox": "rows-test"}) == 0


async def _empty(db: Database) -> bool:
    return await db.accounts.count_documents({PENDING_EVENTS: {"$exists": True}}) == 0
