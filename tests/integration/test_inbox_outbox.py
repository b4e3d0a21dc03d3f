"""Exactly-once effects against real servers: the inbox under redelivery, the outbox relay under
crashes and concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection
from prometheus_client import REGISTRY
from pymongo.errors import AutoReconnect

from shared.broker import Consumer, ConsumerQueue, Publisher, connect, declare_exchange
from shared.broker.consumer import AlreadyProcessed
from shared.clock import ManualClock, SystemClock
from shared.config import BrokerSettings, OutboxSettings
from shared.events import Envelope, EventRegistry, Payload, new_event
from shared.inbox import INBOX_COLLECTION, MAX_PLANS, Inbox, inbox_indexes
from shared.mongo import Database, Document, MongoClient, ensure_indexes, require_transactions
from shared.outbox import (
    OUTBOX_COLLECTION,
    SENT,
    UNPUBLISHABLE,
    UNPUBLISHABLE_AFTER_ATTEMPTS,
    UNROUTABLE,
    Outbox,
    OutboxRelay,
    outbox_indexes,
)
from shared.unit_of_work import StalePlan, Transactions, UnitOfWork
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


class Deposit(Payload):
    EVENT_TYPE = "test.deposit"
    account: str
    amount: int


class DepositRecorded(Payload):
    EVENT_TYPE = "test.deposit_recorded"
    account: str


DEPOSITS = ConsumerQueue("tests.deposits", (Deposit,))


def _registry() -> EventRegistry:
    registry = EventRegistry()
    registry.register(Deposit)
    registry.register(DepositRecorded)
    return registry


async def _record_deposit(db: Database, event: Envelope[Deposit], uow: UnitOfWork) -> None:
    """A handler whose write is *not* idempotent: only the inbox's transaction keeps it once."""
    await db.accounts.update_one(
        {"_id": event.payload.account},
        {"$inc": {"balance": event.payload.amount}},
        upsert=False,
        session=uow.session,
    )
    await uow.emit(
        new_event(
            DepositRecorded(account=event.payload.account),
            idempotency_key=f"recorded:{event.id}",
            caused_by=event,
        )
    )


async def _collect(queue: AbstractQueue, *, settle: float = 0.5) -> list[AbstractIncomingMessage]:
    """Drain `queue` until it stays empty for `settle` seconds."""
    messages: list[AbstractIncomingMessage] = []
    quiet_since = asyncio.get_running_loop().time()
    while asyncio.get_running_loop().time() - quiet_since < settle:
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            await asyncio.sleep(0.05)
        else:
            messages.append(message)
            quiet_since = asyncio.get_running_loop().time()
    return messages


async def _tap(
    connection: AbstractRobustConnection, exchange: str, routing_key: str
) -> AbstractQueue:
    """A private queue that sees every event of `routing_key`, to count what was published."""
    channel = await connection.channel()
    exchange_obj = await declare_exchange(channel, exchange)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange_obj, routing_key)
    return queue


async def test_consumer_killed_before_ack_redelivers_and_effect_happens_once(
    broker_settings: BrokerSettings,
    broker: AbstractRobustConnection,
    mongo_client: MongoClient,
    db: Database,
) -> None:
    await require_transactions(mongo_client)
    await ensure_indexes(db, {**inbox_indexes(14), **outbox_indexes(7)})
    await db.accounts.insert_one({"_id": "acct-1", "balance": 0})
    clock = SystemClock()
    outbox = Outbox(db[OUTBOX_COLLECTION], clock)
    inbox = Inbox(
        Transactions(mongo_client, outbox, UnitOfWork),
        db[INBOX_COLLECTION],
        clock,
        consumer="tests.deposits",
    )
    registry = _registry()
    recorded = await _tap(broker, broker_settings.exchange, DepositRecorded.EVENT_TYPE)

    handler_runs = 0
    closing: list[asyncio.Task[None]] = []

    async def record(event: Envelope[Deposit], uow: UnitOfWork) -> None:
        await _record_deposit(db, event, uow)

    idempotent_record = inbox.idempotent(record)
    doomed = await connect(broker_settings, name="doomed-worker")

    async def record_then_die(event: Envelope[Deposit]) -> None:
        nonlocal handler_runs
        handler_runs += 1
        await idempotent_record(event)
        # The effect is committed; the process "dies" before the runtime can ack: its connection
        # goes away while the handler is still running.
        closing.append(asyncio.get_running_loop().create_task(doomed.close()))
        await asyncio.Event().wait()

    first = Consumer(doomed, DEPOSITS, registry, broker_settings)
    first.handle(Deposit, record_then_die)
    await first.start()

    publisher = await Publisher.open(broker, broker_settings)
    deposit = new_event(Deposit(account="acct-1", amount=25))
    await publisher.publish(deposit)

    async def doomed_closed() -> bool:
        return doomed.is_closed

    await eventually(doomed_closed)
    assert handler_runs == 1

    redelivered: list[Envelope[Deposit]] = []

    async def count_then_record(event: Envelope[Deposit]) -> None:
        redelivered.append(event)
        await idempotent_record(event)

    second = Consumer(broker, DEPOSITS, registry, broker_settings)
    second.handle(Deposit, count_then_record)
    await second.start()

    async def got_redelivery() -> bool:
        return bool(redelivered)

    await eventually(got_redelivery)
    relay = OutboxRelay(outbox, db[OUTBOX_COLLECTION], publisher, OutboxSettings(), clock)
    assert await relay.relay_once() == 1
    published = await _collect(recorded)
    await second.stop()
    await publisher.close()

    assert [e.id for e in redelivered] == [deposit.id]
    account = await db.accounts.find_one({"_id": "acct-1"})
    assert account is not None
    assert account["balance"] == 25
    assert await db[INBOX_COLLECTION].count_documents({}) == 1
    assert await db[OUTBOX_COLLECTION].count_documents({}) == 1
    assert len(published) == 1
    follow_up = registry.decode(published[0].body)
    assert follow_up.causation_id == str(deposit.id)
    assert follow_up.correlation_id == deposit.correlation_id


class _Transfer:
    """A planned handler: reads the balance outside the transaction, applies only if it is
    still what the plan read (another write in between makes the plan stale)."""

    def __init__(self, db: Database, interfere: int) -> None:
        self._db = db
        self._interfere = interfere
        self.plans = 0

    async def plan(self, event: Envelope[Deposit]) -> int:
        self.plans += 1
        account = await self._db.accounts.find_one({"_id": event.payload.account})
        assert account is not None
        balance: int = account["balance"]
        if self.plans <= self._interfere:
            # Another event of the same account wins the race after this plan was made.
            await self._db.accounts.update_one(
                {"_id": event.payload.account}, {"$inc": {"balance": 1}}
            )
        return balance

    async def apply(self, event: Envelope[Deposit], plan: int, uow: UnitOfWork) -> None:
        updated = await self._db.accounts.update_one(
            {"_id": event.payload.account, "balance": plan},
            {"$set": {"balance": plan + event.payload.amount}},
            session=uow.session,
        )
        if updated.modified_count == 0:
            raise StalePlan("the balance moved since the plan")
        await _record_deposit_event(event, uow)


async def _record_deposit_event(event: Envelope[Deposit], uow: UnitOfWork) -> None:
    await uow.emit(
        new_event(
            DepositRecorded(account=event.payload.account),
            idempotency_key=f"recorded:{event.id}",
            caused_by=event,
        )
    )


@pytest.mark.parametrize(("interfere", "applied"), [(1, True), (MAX_PLANS, False)])
async def test_a_stale_plan_is_made_again_then_left_to_the_broker(
    mongo_client: MongoClient, db: Database, interfere: int, applied: bool
) -> None:
    await ensure_indexes(db, {**inbox_indexes(14), **outbox_indexes(7)})
    await db.accounts.insert_one({"_id": "acct-p", "balance": 0})
    clock = SystemClock()
    outbox = Outbox(db[OUTBOX_COLLECTION], clock)
    inbox = Inbox(
        Transactions(mongo_client, outbox, UnitOfWork),
        db[INBOX_COLLECTION],
        clock,
        consumer="tests.planned",
    )
    transfer = _Transfer(db, interfere)
    deposit = new_event(Deposit(account="acct-p", amount=10), idempotency_key="deposit:p")
    deliver = inbox.planned(transfer)
    if applied:
        await deliver(deposit)
        with pytest.raises(AlreadyProcessed):
            await deliver(deposit)
    else:
        with pytest.raises(StalePlan):
            await deliver(deposit)
    account = await db.accounts.find_one({"_id": "acct-p"})
    assert account is not None
    assert account["balance"] == (interfere + 10 if applied else interfere)
    # Nothing of a stale plan was kept: no inbox row (the broker's retry runs it again), no event.
    assert await db[INBOX_COLLECTION].count_documents({}) == int(applied)
    assert await db[OUTBOX_COLLECTION].count_documents({}) == int(applied)
    # The redelivery of an applied event is recognised before planning (no slow work again).
    assert transfer.plans == (interfere + 1 if applied else MAX_PLANS)


class _RelayCrashed(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


class _CrashingPublisher:
    async def publish_body(
        self, body: bytes, *, event_type: str, message_id: str, correlation_id: str | None
    ) -> None:
        raise _RelayCrashed


async def test_relay_crash_before_publish_then_restart_publishes_exactly_once(
    broker_settings: BrokerSettings,
    broker: AbstractRobustConnection,
    mongo_client: MongoClient,
    db: Database,
) -> None:
    await ensure_indexes(db, outbox_indexes(7))
    clock = ManualClock(datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
    settings = OutboxSettings(claim_lease_seconds=30)
    outbox = Outbox(db[OUTBOX_COLLECTION], clock)
    event = new_event(DepositRecorded(account="acct-9"), idempotency_key="recorded:crash-test")

    async def commit_state_and_event(session: Any) -> None:
        await db.accounts.insert_one({"_id": "acct-9", "balance": 10}, session=session)
        await outbox.add(event, session)

    async with mongo_client.start_session() as session:
        await session.with_transaction(commit_state_and_event)

    tap = await _tap(broker, broker_settings.exchange, DepositRecorded.EVENT_TYPE)
    crashing = OutboxRelay(outbox, db[OUTBOX_COLLECTION], _CrashingPublisher(), settings, clock)
    with pytest.raises(_RelayCrashed):
        await crashing.relay_once()

    publisher = await Publisher.open(broker, broker_settings)
    restarted = OutboxRelay(outbox, db[OUTBOX_COLLECTION], publisher, settings, clock)
    # The dead relay's claim still holds: nobody publishes while it might still be working.
    assert await restarted.relay_once() == 0
    clock.advance(timedelta(seconds=31))
    assert await restarted.relay_once() == 1
    assert await restarted.relay_once() == 0
    clock.advance(timedelta(minutes=5))
    assert await restarted.relay_once() == 0

    messages = await _collect(tap)
    await publisher.close()
    assert [m.message_id for m in messages] == [str(event.id)]
    row = await db[OUTBOX_COLLECTION].find_one({"_id": str(event.id)})
    assert row is not None
    assert row["status"] == SENT
    assert row["attempts"] == 2


async def test_concurrent_relays_publish_every_row_once(
    broker_settings: BrokerSettings,
    broker: AbstractRobustConnection,
    db: Database,
) -> None:
    await ensure_indexes(db, outbox_indexes(7))
    clock = SystemClock()
    settings = OutboxSettings(batch_size=25)
    outbox = Outbox(db[OUTBOX_COLLECTION], clock)
    events = [
        new_event(DepositRecorded(account=f"acct-{i}"), idempotency_key=f"bulk:{i}")
        for i in range(150)
    ]
    for event in events:
        await outbox.add(event)
    await outbox.add(events[0])  # a replayed handler adds the same event again: no new row
    assert await db[OUTBOX_COLLECTION].count_documents({}) == 150

    tap = await _tap(broker, broker_settings.exchange, DepositRecorded.EVENT_TYPE)
    publisher = await Publisher.open(broker, broker_settings)
    relays = [
        OutboxRelay(outbox, db[OUTBOX_COLLECTION], publisher, settings, clock) for _ in range(3)
    ]
    total = 0
    while True:
        counts = await asyncio.gather(*(relay.relay_once() for relay in relays))
        total += sum(counts)
        if sum(counts) == 0:
            break
    messages = await _collect(tap)
    await publisher.close()
    assert total == 150
    assert sorted(m.message_id or "" for m in messages) == sorted(str(e.id) for e in events)
    assert await db[OUTBOX_COLLECTION].count_documents({"status": SENT}) == 150


async def test_relay_loop_publishes_soon_after_commit_and_stops_on_request(
    broker_settings: BrokerSettings,
    broker: AbstractRobustConnection,
    db: Database,
) -> None:
    clock = SystemClock()
    outbox = Outbox(db[OUTBOX_COLLECTION], clock)
    tap = await _tap(broker, broker_settings.exchange, DepositRecorded.EVENT_TYPE)
    publisher = await Publisher.open(broker, broker_settings)
    relay = OutboxRelay(
        outbox, db[OUTBOX_COLLECTION], publisher, OutboxSettings(poll_interval_seconds=30), clock
    )
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    event = new_event(DepositRecorded(account="acct-loop"))
    await outbox.add(event)

    async def arrived() -> AbstractIncomingMessage | None:
        return await tap.get(no_ack=True, fail=False)

    # Poll interval is 30 s: arriving well before that proves the in-process wake-up works.
    message = await eventually(arrived, timeout=10)
    stop.set()
    await asyncio.wait_for(running, 5)
    await publisher.close()
    assert message.message_id == str(event.id)


async def test_retention_indexes_expire_inbox_and_sent_outbox_rows(db: Database) -> None:
    await ensure_indexes(db, {**inbox_indexes(14), **outbox_indexes(7)})
    inbox_index = (await db[INBOX_COLLECTION].index_information())["processed_ttl"]
    assert inbox_index["expireAfterSeconds"] == 14 * 86_400
    # A changed retention setting is applied in place at the next start-up.
    await ensure_indexes(db, inbox_indexes(3))
    inbox_index = (await db[INBOX_COLLECTION].index_information())["processed_ttl"]
    assert inbox_index["expireAfterSeconds"] == 3 * 86_400
    outbox_index = (await db[OUTBOX_COLLECTION].index_information())["sent_ttl"]
    assert outbox_index["expireAfterSeconds"] == 7 * 86_400


async def test_unroutable_event_is_set_aside_instead_of_blocking_the_outbox(
    broker_settings: BrokerSettings,
    broker: AbstractRobustConnection,
    db: Database,
) -> None:
    clock = SystemClock()
    outbox = Outbox(db[OUTBOX_COLLECTION], clock)
    nobody_listens = new_event(DepositRecorded(account="acct-x"))
    await outbox.add(nobody_listens)
    publisher = await Publisher.open(broker, broker_settings)
    relay = OutboxRelay(outbox, db[OUTBOX_COLLECTION], publisher, OutboxSettings(), clock)
    assert await relay.relay_once() == 0
    assert await relay.relay_once() == 0  # not retried in a loop
    await publisher.close()
    row = await db[OUTBOX_COLLECTION].find_one({"_id": str(nobody_listens.id)})
    assert row is not None
    assert row["status"] == UNROUTABLE
    assert "no queue is bound" in row["error"]


async def test_an_event_the_broker_client_cannot_encode_is_set_aside_and_the_relay_goes_on(
    broker_settings: BrokerSettings,
    broker: AbstractRobustConnection,
    db: Database,
) -> None:
    """A message id AMQP cannot carry (over 255 bytes) makes the client raise, not the broker
    refuse: after a few attempts the row is set aside, and the relay keeps relaying the rest."""
    clock = SystemClock()
    outbox = Outbox(db[OUTBOX_COLLECTION], clock)
    channel = await broker.channel()
    exchange = await declare_exchange(channel, broker_settings.exchange)
    listener = await channel.declare_queue(exclusive=True)
    await listener.bind(exchange, DepositRecorded.EVENT_TYPE)
    bad = new_event(DepositRecorded(account="acct-bad"))
    await outbox.add(bad, row_id="x" * 300)
    publisher = await Publisher.open(broker, broker_settings)
    relay = OutboxRelay(
        outbox, db[OUTBOX_COLLECTION], publisher, OutboxSettings(poll_interval_seconds=0.05), clock
    )
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:

        async def set_aside() -> bool:
            row = await db[OUTBOX_COLLECTION].find_one({"_id": "x" * 300})
            return row is not None and row["status"] == UNPUBLISHABLE

        await eventually(set_aside)
        good = new_event(DepositRecorded(account="acct-good"))
        await outbox.add(good)

        async def relayed() -> bool:
            row = await db[OUTBOX_COLLECTION].find_one({"_id": str(good.id)})
            return row is not None and row["status"] == SENT

        await eventually(relayed)
        assert not running.done()
        message = await eventually(lambda: listener.get(no_ack=True, fail=False))
        assert message.message_id == str(good.id)
    finally:
        stop.set()
        await running
        await publisher.close()
        await channel.close()
    row = await db[OUTBOX_COLLECTION].find_one({"_id": "x" * 300})
    assert row is not None
    assert row["attempts"] == UNPUBLISHABLE_AFTER_ATTEMPTS


def _outbox_commands(command: str) -> float:
    """This process's database commands of `command` on outbox collections so far."""
    value = REGISTRY.get_sample_value(
        "givecare_mongo_commands_total", {"command": command, "collection": OUTBOX_COLLECTION}
    )
    return value or 0.0


async def test_a_committing_process_publishes_its_events_itself_and_marks_them_sent_together(
    broker_settings: BrokerSettings,
    broker: AbstractRobustConnection,
    mongo_client: MongoClient,
    db: Database,
) -> None:
    """No poll, no claim: each transaction writes its events in one command, already leased to
    this process, which publishes them after the commit; the sent marks of several
    transactions go in one update."""
    await ensure_indexes(db, outbox_indexes(7))
    clock = SystemClock()
    settings = OutboxSettings(mark_sent_delay_seconds=0.3)
    outbox = Outbox(db[OUTBOX_COLLECTION], clock, lease_seconds=30)
    publisher = await Publisher.open(broker, broker_settings)
    relay = OutboxRelay(outbox, db[OUTBOX_COLLECTION], publisher, settings, clock)
    transactions = Transactions(mongo_client, outbox, UnitOfWork, relay=relay)
    tap = await _tap(broker, broker_settings.exchange, DepositRecorded.EVENT_TYPE)
    events = [
        new_event(DepositRecorded(account=f"acct-{n}"), idempotency_key=f"committed:{n}")
        for n in range(6)
    ]

    async def emit_two(first: Envelope[DepositRecorded], second: Envelope[DepositRecorded]) -> None:
        async def body(uow: UnitOfWork) -> None:
            await uow.emit(first)
            await uow.emit(second)

        await transactions.run(body)

    updates_before, finds_before = _outbox_commands("update"), _outbox_commands("find")
    await asyncio.gather(*(emit_two(events[n], events[n + 1]) for n in range(0, 6, 2)))
    # Published before `run` returned: on the broker without any relay pass.
    published = await _collect(tap, settle=0.2)
    assert sorted(str(m.message_id) for m in published) == sorted(str(e.id) for e in events)
    assert await db[OUTBOX_COLLECTION].count_documents({"status": "pending"}) == 6

    async def all_sent() -> bool:
        return await db[OUTBOX_COLLECTION].count_documents({"status": SENT}) == 6

    await eventually(all_sent)
    # Three transactions: three batched writes of two rows each (bulk writes count as one
    # `update` command), and the six marks in a single update. No finds: nothing polled.
    assert _outbox_commands("update") - updates_before == 4
    assert _outbox_commands("find") - finds_before == 0
    # Another relay finds nothing to do.
    assert await relay.relay_once() == 0
    await publisher.close()


async def test_the_next_units_outbox_write_carries_the_sent_marks_of_the_last(
    broker_settings: BrokerSettings,
    broker: AbstractRobustConnection,
    mongo_client: MongoClient,
    db: Database,
) -> None:
    """A busy process pays no command for its sent marks: the next unit of work that emits
    marks the rows published since in its own outbox write; a unit that fails gives them back
    to be written on their own."""
    await ensure_indexes(db, outbox_indexes(7))
    clock = SystemClock()
    settings = OutboxSettings(mark_sent_delay_seconds=5)  # no timer flush during the test
    outbox = Outbox(db[OUTBOX_COLLECTION], clock, lease_seconds=30)
    publisher = await Publisher.open(broker, broker_settings)
    relay = OutboxRelay(outbox, db[OUTBOX_COLLECTION], publisher, settings, clock)
    transactions = Transactions(mongo_client, outbox, UnitOfWork, relay=relay)
    await _tap(broker, broker_settings.exchange, DepositRecorded.EVENT_TYPE)
    events = [
        new_event(DepositRecorded(account=f"acct-{n}"), idempotency_key=f"carried:{n}")
        for n in range(3)
    ]

    async def emit(event: Envelope[DepositRecorded], fail: bool = False) -> None:
        async def body(uow: UnitOfWork) -> None:
            await uow.emit(event)
            if fail:
                raise RuntimeError("the unit of work failed")

        await transactions.run(body)

    async def status(event: Envelope[DepositRecorded]) -> str | None:
        row = await db[OUTBOX_COLLECTION].find_one({"_id": str(event.id)})
        return None if row is None else str(row["status"])

    updates_before = _outbox_commands("update")
    await emit(events[0])
    assert await status(events[0]) == "pending"  # published, its mark gathering
    await emit(events[1])
    assert await status(events[0]) == SENT  # carried by the second unit's write
    assert _outbox_commands("update") - updates_before == 2  # the two units' writes only
    with pytest.raises(RuntimeError):
        await emit(events[2], fail=True)
    assert await status(events[1]) == "pending"
    await relay.flush_marks()
    assert await status(events[1]) == SENT  # given back, then written on its own
    assert await status(events[2]) is None
    await publisher.close()


class _DiesAfterCommit(OutboxRelay):
    """The process dies between its commit and its publish."""

    async def publish_committed(self, rows: Sequence[Document]) -> None:
        return None


async def test_events_of_a_process_that_died_after_its_commit_leave_when_their_lease_runs_out(
    broker_settings: BrokerSettings,
    broker: AbstractRobustConnection,
    mongo_client: MongoClient,
    db: Database,
) -> None:
    await ensure_indexes(db, outbox_indexes(7))
    clock = ManualClock(datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    settings = OutboxSettings(claim_lease_seconds=30)
    outbox = Outbox(db[OUTBOX_COLLECTION], clock, lease_seconds=30)
    publisher = await Publisher.open(broker, broker_settings)
    dead = _DiesAfterCommit(outbox, db[OUTBOX_COLLECTION], publisher, settings, clock)
    event = new_event(DepositRecorded(account="acct-d"), idempotency_key="recorded:died")

    async def body(uow: UnitOfWork) -> None:
        await uow.emit(event)

    await Transactions(mongo_client, outbox, UnitOfWork, relay=dead).run(body)
    tap = await _tap(broker, broker_settings.exchange, DepositRecorded.EVENT_TYPE)
    survivor = OutboxRelay(outbox, db[OUTBOX_COLLECTION], publisher, settings, clock)
    # Leased to the committing process: nobody else publishes while it may still be working.
    assert await survivor.relay_once() == 0
    clock.advance(timedelta(seconds=31))
    assert await survivor.relay_once() == 1
    messages = await _collect(tap)
    await publisher.close()
    assert [m.message_id for m in messages] == [str(event.id)]
    row = await db[OUTBOX_COLLECTION].find_one({"_id": str(event.id)})
    assert row is not None
    assert row["status"] == SENT


async def test_an_event_emitted_again_under_its_id_is_not_published_twice(
    broker_settings: BrokerSettings,
    broker: AbstractRobustConnection,
    mongo_client: MongoClient,
    db: Database,
) -> None:
    await ensure_indexes(db, outbox_indexes(7))
    clock = SystemClock()
    outbox = Outbox(db[OUTBOX_COLLECTION], clock)
    publisher = await Publisher.open(broker, broker_settings)
    relay = OutboxRelay(outbox, db[OUTBOX_COLLECTION], publisher, OutboxSettings(), clock)
    transactions = Transactions(mongo_client, outbox, UnitOfWork, relay=relay)
    tap = await _tap(broker, broker_settings.exchange, DepositRecorded.EVENT_TYPE)
    event = new_event(DepositRecorded(account="acct-r"), idempotency_key="recorded:again")
    other = new_event(DepositRecorded(account="acct-s"), idempotency_key="recorded:other")

    async def once(uow: UnitOfWork) -> None:
        await uow.emit(event)

    async def again_with_another(uow: UnitOfWork) -> None:
        await uow.emit(event)
        await uow.emit(other)

    await transactions.run(once)
    await transactions.run(again_with_another)
    messages = await _collect(tap)
    await publisher.close()
    assert sorted(str(m.message_id) for m in messages) == sorted([str(event.id), str(other.id)])


def _inbox_reads() -> float:
    value = REGISTRY.get_sample_value(
        "givecare_mongo_commands_total", {"command": "find", "collection": INBOX_COLLECTION}
    )
    return value or 0.0


async def test_a_planned_handler_reads_the_inbox_only_for_an_event_that_may_be_handled_already(
    broker_settings: BrokerSettings,
    broker: AbstractRobustConnection,
    mongo_client: MongoClient,
    db: Database,
) -> None:
    """A first delivery cannot have been handled: no inbox read before planning. A retry
    (attempt 2) may have been: it is read — and an applied event is recognised before the
    slow work."""
    await ensure_indexes(db, {**inbox_indexes(14), **outbox_indexes(7)})
    await db.accounts.insert_one({"_id": "acct-f", "balance": 0})
    clock = SystemClock()
    outbox = Outbox(db[OUTBOX_COLLECTION], clock)
    inbox = Inbox(
        Transactions(mongo_client, outbox, UnitOfWork),
        db[INBOX_COLLECTION],
        clock,
        consumer="tests.first-sight",
    )
    transfer = _Transfer(db, interfere=0)
    planned = inbox.planned(transfer)
    reads: list[float] = []
    attempts = 0

    async def handle(event: Envelope[Deposit]) -> None:
        nonlocal attempts
        attempts += 1
        before = _inbox_reads()
        await planned(event)
        reads.append(_inbox_reads() - before)
        if attempts == 1:
            raise RuntimeError("the ack is lost after the commit: the broker retries")

    queue = ConsumerQueue("tests.first-sight", (Deposit,))
    settings = broker_settings.model_copy(
        update={"retry_base_delay_ms": 50, "retry_max_delay_ms": 100}
    )
    consumer = Consumer(broker, queue, _registry(), settings)
    consumer.handle(Deposit, handle)
    await consumer.start()
    publisher = await Publisher.open(broker, settings)
    await publisher.publish(new_event(Deposit(account="acct-f", amount=5)))

    async def retried() -> bool:
        return attempts >= 2

    await eventually(retried)
    await consumer.stop()
    await publisher.close()
    assert reads[0] == 0  # first delivery: straight to planning
    assert transfer.plans == 1  # the retry was recognised before planning again
    account = await db.accounts.find_one({"_id": "acct-f"})
    assert account is not None
    assert account["balance"] == 5


class _Unreachable:
    """A planned handler that finds the database unreachable: its plan for the first
    `plan_failures` tries, its apply (after its write, inside the transaction) for the next
    `apply_failures` tries."""

    def __init__(self, db: Database, plan_failures: int, apply_failures: int) -> None:
        self._transfer = _Transfer(db, interfere=0)
        self._plan_failures = plan_failures
        self._apply_failures = apply_failures

    async def plan(self, event: Envelope[Deposit]) -> int:
        if self._plan_failures:
            self._plan_failures -= 1
            raise AutoReconnect("connection refused")
        return await self._transfer.plan(event)

    async def apply(self, event: Envelope[Deposit], plan: int, uow: UnitOfWork) -> None:
        await self._transfer.apply(event, plan, uow)
        if self._apply_failures:
            self._apply_failures -= 1
            raise AutoReconnect("connection reset")


async def test_a_lost_database_connection_is_ridden_out_in_process_and_applies_once(
    mongo_client: MongoClient, db: Database
) -> None:
    """An outage says nothing about the event: the inbox runs the handler again in process
    (as a transaction waits) instead of spending the event's few broker retries and parking
    it; what the lost tries wrote inside their transactions is gone, so the effect is once."""
    await ensure_indexes(db, {**inbox_indexes(14), **outbox_indexes(7)})
    await db.accounts.insert_one({"_id": "acct-o", "balance": 0})
    clock = SystemClock()
    inbox = Inbox(
        Transactions(mongo_client, Outbox(db[OUTBOX_COLLECTION], clock), UnitOfWork),
        db[INBOX_COLLECTION],
        clock,
        consumer="tests.outage",
    )
    deposit = new_event(Deposit(account="acct-o", amount=10), idempotency_key="deposit:o")
    await inbox.planned(_Unreachable(db, plan_failures=2, apply_failures=2))(deposit)
    account = await db.accounts.find_one({"_id": "acct-o"})
    assert account is not None
    assert account["balance"] == 10
    assert await db[INBOX_COLLECTION].count_documents({}) == 1
    assert await db[OUTBOX_COLLECTION].count_documents({}) == 1
    with pytest.raises(AlreadyProcessed):
        await inbox.planned(_Unreachable(db, plan_failures=0, apply_failures=0))(deposit)
