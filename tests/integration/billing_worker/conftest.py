"""The billing worker as it runs in production — consumer, inbox, outbox relay — against the
session's real broker and database, plus taps that see every event it publishes; and the
`repositories` the contract tests (`test_*_contract.py`) run on the fake and the real server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import pytest
from aio_pika.abc import AbstractQueue, AbstractRobustConnection

from services.billing_worker.handlers import BillingTexts, StripeEventHandler
from services.billing_worker.queues import STRIPE
from services.billing_worker.records import BillingAccount, Outcome
from services.billing_worker.refetch import SubscriptionRefresher
from services.billing_worker.service import StripeEventConsumer
from services.billing_worker.store import (
    BILLING_INDEXES,
    MongoAccounts,
    MongoCustomers,
    MongoStripeEvents,
)
from services.billing_worker.stripe_objects import stripe_event_payload
from services.billing_worker.unit_of_work import (
    AccountReads,
    Accounts,
    BillingWork,
    Customers,
    MongoBillingWork,
    StripeEvents,
    billing_work,
)
from shared.broker import AlreadyProcessed, Consumer, Publisher, declare_exchange
from shared.clock import ManualClock, SystemClock
from shared.config import BrokerSettings, OutboxSettings
from shared.events import Envelope, new_event
from shared.events.catalog import (
    EVENTS,
    BillingAccessChanged,
    SmsOutboundRequested,
    StripeEventReceived,
)
from shared.inbox import INBOX_COLLECTION, Inbox, inbox_indexes
from shared.mongo import Database, MongoClient, ensure_indexes
from shared.outbox import OUTBOX_COLLECTION, PENDING, Outbox, OutboxRelay, outbox_indexes
from shared.unit_of_work import Transactions
from tests.fakes.billing import FakeBillingWork
from tests.fakes.stripe_api import FakeStripeServer
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

SIGNUP_URL = "https://signup.givecare.test/join"
_T = TypeVar("_T")


def stripe_envelope(
    stripe_event: dict[str, Any], *, idempotency_key: str | None = None
) -> Envelope[StripeEventReceived]:
    """The event ingress publishes for a Stripe webhook (or another key, to fake a second copy)."""
    payload = stripe_event_payload(stripe_event, received_at=datetime.now(UTC))
    return new_event(
        payload,
        event_type=f"billing.stripe.{payload.stripe_type}",
        idempotency_key=idempotency_key or f"stripe:{payload.stripe_event_id}",
    )


class Tap:
    """Every event of one routing key the worker published, decoded, in arrival order."""

    def __init__(self, queue: AbstractQueue) -> None:
        self._queue = queue
        self.events: list[Envelope[Any]] = []

    async def drain(self) -> list[Envelope[Any]]:
        while (message := await self._queue.get(no_ack=True, fail=False)) is not None:
            self.events.append(EVENTS.decode(message.body))
        return self.events


@dataclass
class BillingHarness:
    db: Database
    clock: ManualClock
    publisher: Publisher
    access_changes: Tap
    sms_requests: Tap
    accounts: MongoAccounts
    transactions: Transactions[MongoBillingWork]
    deliveries: list[str] = field(default_factory=list)

    async def publish(self, *envelopes: Envelope[StripeEventReceived]) -> None:
        for envelope in envelopes:
            await self.publisher.publish(envelope)

    async def deliver(self, *envelopes: Envelope[StripeEventReceived]) -> None:
        """Publish and wait until the worker has taken each delivery (handled or dropped)."""
        expected = len(self.deliveries) + len(envelopes)
        await self.publish(*envelopes)
        await self.settle(expected)

    async def settle(self, deliveries: int) -> None:
        """Wait for `deliveries` handled deliveries in all, then for the outbox to be empty."""

        async def handled() -> bool:
            return len(self.deliveries) >= deliveries

        async def relayed() -> bool:
            return await self.db[OUTBOX_COLLECTION].count_documents({"status": PENDING}) == 0

        await eventually(handled)
        await eventually(relayed)

    async def access_published(self) -> list[bool]:
        events = await self.access_changes.drain()
        return [e.payload.has_access for e in events if isinstance(e.payload, BillingAccessChanged)]

    async def sms_published(self) -> list[Envelope[SmsOutboundRequested]]:
        return [e for e in await self.sms_requests.drain() if e.type == "sms.outbound.requested"]

    async def account(self, phone: str) -> BillingAccount:
        account = await self.accounts.get(phone)
        assert account is not None
        return account

    async def event_status(self, stripe_event_id: str) -> str | None:
        return await MongoStripeEvents(self.db).outcome(stripe_event_id)


async def tap(connection: AbstractRobustConnection, exchange: str, routing_key: str) -> Tap:
    channel = await connection.channel()
    exchange_obj = await declare_exchange(channel, exchange)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange_obj, routing_key)
    return Tap(queue)


@pytest.fixture
async def fake_stripe() -> AsyncIterator[FakeStripeServer]:
    async with FakeStripeServer() as server:
        yield server


@pytest.fixture
def refresher_factory() -> Callable[[AccountReads, ManualClock], SubscriptionRefresher] | None:
    """Override to give the worker a subscription refresher (re-fetch through Stripe)."""
    return None


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def billing(
    refresher_factory: Callable[[AccountReads, ManualClock], SubscriptionRefresher] | None,
    clock: ManualClock,
    broker: AbstractRobustConnection,
    broker_settings: BrokerSettings,
    mongo_client: MongoClient,
    db: Database,
) -> AsyncIterator[BillingHarness]:
    await ensure_indexes(db, {**inbox_indexes(14), **outbox_indexes(7), **BILLING_INDEXES})
    outbox = Outbox(db[OUTBOX_COLLECTION], clock)
    transactions = Transactions(mongo_client, outbox, billing_work(db))
    inbox = Inbox(transactions, db[INBOX_COLLECTION], clock, consumer=STRIPE.name)
    accounts = MongoAccounts(db)
    handler = StripeEventHandler(clock, BillingTexts(signup_url=SIGNUP_URL))
    refresher = refresher_factory(accounts, clock) if refresher_factory is not None else None
    stripe_consumer = inbox.planned(StripeEventConsumer(handler, refresher))
    publisher = await Publisher.open(broker, broker_settings)
    harness = BillingHarness(
        db=db,
        clock=clock,
        publisher=publisher,
        access_changes=await tap(broker, broker_settings.exchange, "billing.access.changed"),
        sms_requests=await tap(broker, broker_settings.exchange, "sms.outbound.requested"),
        accounts=accounts,
        transactions=transactions,
    )

    async def counted(event: Envelope[StripeEventReceived]) -> None:
        try:
            await stripe_consumer(event)
        except AlreadyProcessed:
            harness.deliveries.append(event.payload.stripe_event_id)
            raise
        harness.deliveries.append(event.payload.stripe_event_id)

    consumer = Consumer(broker, STRIPE, EVENTS, broker_settings)
    consumer.handle(StripeEventReceived, counted)
    relay = OutboxRelay(
        outbox, db[OUTBOX_COLLECTION], publisher, OutboxSettings(poll_interval_seconds=0.05), clock
    )
    stop = asyncio.Event()
    relaying = asyncio.create_task(relay.run(stop))
    await consumer.start()
    try:
        yield harness
    finally:
        await consumer.stop()
        stop.set()
        await relaying
        with contextlib.suppress(Exception):
            await publisher.close()


# -- contract tests: the fake and the Mongo repositories under the same assertions --------------


class RecordedStripeEvents(StripeEvents, Protocol):
    """The handlers' view plus the reads outside any event (reconcile, operators)."""

    async def received(self, stripe_event_ids: Iterable[str]) -> set[str]: ...

    async def outcome(self, stripe_event_id: str) -> Outcome | None: ...


class BillingRepositories(Protocol):
    """Billing's repositories outside any event, and `run` for a body in one unit of work."""

    @property
    def accounts(self) -> Accounts: ...

    @property
    def customers(self) -> Customers: ...

    @property
    def stripe_events(self) -> RecordedStripeEvents: ...

    async def run(self, body: Callable[[BillingWork], Awaitable[_T]]) -> _T: ...


class MongoRepositories:
    def __init__(self, db: Database, transactions: Transactions[MongoBillingWork]) -> None:
        self.accounts = MongoAccounts(db)
        self.customers = MongoCustomers(db)
        self.stripe_events = MongoStripeEvents(db)
        self._transactions = transactions

    async def run(self, body: Callable[[BillingWork], Awaitable[_T]]) -> _T:
        return await self._transactions.run(body)


@pytest.fixture(params=["fake", "mongo"])
async def repositories(
    request: pytest.FixtureRequest, mongo_client: MongoClient, db: Database
) -> BillingRepositories:
    """Each contract test runs twice: on the in-memory fake and on the real server."""
    if request.param == "fake":
        return FakeBillingWork()
    await ensure_indexes(db, BILLING_INDEXES)
    outbox = Outbox(db[OUTBOX_COLLECTION], SystemClock())
    return MongoRepositories(db, Transactions(mongo_client, outbox, billing_work(db)))
