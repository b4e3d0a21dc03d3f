"""A sender harness over the real broker and database and a fake Twilio on 127.0.0.1: senders
are built with the service's own `assemble`, consume the real sender queue, and share one
manual clock, so lease expiry and retry times move when a test says so; and the `repositories`
the contract tests (`test_*_contract.py`) run on the fake and the real server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import pytest
from aio_pika.abc import AbstractChannel, AbstractQueue, AbstractRobustConnection
from prometheus_client import REGISTRY

from domain import send_status
from services.devtools.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, FakeTwilioServer
from services.sms_sender.parking import BrokerParkingLot
from services.sms_sender.queues import EVENTS as SENDER_EVENTS
from services.sms_sender.records import SendRecord
from services.sms_sender.store import (
    OUTBOUND_MESSAGES,
    SMS_RECIPIENTS,
    MongoRecipients,
    MongoSends,
    sender_indexes,
)
from services.sms_sender.transport import SmsTransport, TwilioTransport
from services.sms_sender.unit_of_work import (
    Claims,
    MongoSenderWork,
    Recipients,
    SenderWork,
    Sends,
    SendSlots,
    sender_work,
)
from services.sms_sender.wiring import Sender, assemble
from shared.broker import Consumer, Publisher, declare_exchange
from shared.clock import ManualClock, SystemClock
from shared.config import BrokerSettings, OutboxSettings, SenderSettings, TwilioSettings
from shared.events import Envelope, new_event
from shared.events.catalog import EVENTS, SmsOutboundRequested, SmsSendUpdated
from shared.inbox import INBOX_COLLECTION, Inbox, inbox_indexes
from shared.mongo import Database, Document, MongoClient, ensure_indexes
from shared.outbox import OUTBOX_COLLECTION, EventPublisher, Outbox, outbox_indexes
from shared.row_outbox import RowOutbox
from shared.unit_of_work import Transactions
from tests.fakes.sms_sender import FakeSenderWork
from tests.support.waiting import eventually

PHONE = "+15551230001"
FROM_NUMBER = "+15550009999"
STATUS_CALLBACK = "https://ingress.example/webhooks/twilio/status"
_T = TypeVar("_T")


def sender_settings(**overrides: Any) -> SenderSettings:
    return SenderSettings.model_validate(
        {"lease_seconds": 60, "poll_interval_seconds": 0.05, **overrides}
    )


def request_event(
    key: str,
    *,
    body: str = "Thanks for checking in. How are you sleeping this week?",
    to_number: str = PHONE,
    kind: str = "reply",
    compliance: bool = False,
) -> Envelope[SmsOutboundRequested]:
    payload = SmsOutboundRequested.model_validate(
        {
            "to_number": to_number,
            "body": body,
            "kind": kind,
            "user_id": "user-1",
            "compliance": compliance,
        }
    )
    return new_event(payload, idempotency_key=key)


@dataclass
class SenderHarness:
    db: Database
    client: MongoClient
    broker: AbstractRobustConnection
    broker_settings: BrokerSettings
    twilio: FakeTwilio
    twilio_url: str
    clock: ManualClock
    outbox: Outbox
    _channel: AbstractChannel
    _publisher: Publisher
    # What the senders' outcomes published from their rows (`shared.row_outbox`).
    row_published: list[Envelope[Any]] = field(default_factory=list)
    _consumers: list[Consumer] = field(default_factory=list)
    _transports: list[SmsTransport] = field(default_factory=list)

    @property
    def transactions(self) -> Transactions[MongoSenderWork]:
        """Units of work on the sender's repositories, as `__main__` builds them."""
        return Transactions(self.client, self.outbox, sender_work(self.db))

    @property
    def queue(self) -> str:
        return self.broker_settings.queue(SENDER_EVENTS.name)

    def twilio_transport(self, *, timeout: float = 5.0) -> TwilioTransport:
        transport = TwilioTransport(
            TwilioSettings(
                account_sid=ACCOUNT_SID,
                auth_token=AUTH_TOKEN,
                from_number=FROM_NUMBER,
                api_base_url=self.twilio_url,
                status_callback_url=STATUS_CALLBACK,
                request_timeout_seconds=timeout,
            )
        )
        self._transports.append(transport)
        return transport

    def row_outbox(self, outbox_settings: OutboxSettings | None = None) -> RowOutbox:
        """The row outbox of `outbound_messages`, as `__main__` gets it from the runtime; what
        it publishes is also recorded in `row_published`."""
        return RowOutbox(
            self.db[OUTBOUND_MESSAGES],
            RecordingPublisher(self._publisher, self.row_published),
            self.outbox,
            self.clock,
            outbox_settings or OutboxSettings(),
        )

    def sender(
        self,
        *,
        settings: SenderSettings | None = None,
        transport: SmsTransport | None = None,
        unit_random: Callable[[], float] = lambda: 0.5,
        events: RowOutbox | None = None,
    ) -> Sender:
        return assemble(
            self.db,
            transactions=self.transactions,
            events=events or self.row_outbox(),
            clock=self.clock,
            transport=transport or self.twilio_transport(),
            parking=BrokerParkingLot(
                self._channel, self.queue, self.broker_settings.publish_timeout_seconds
            ),
            settings=settings or sender_settings(),
            unit_random=unit_random,
        )

    async def consume(
        self, sender: Sender, connection: AbstractRobustConnection | None = None
    ) -> Consumer:
        """Start a consumer of the sender queue; one on its own `connection` is left to the
        test (a consumer whose connection the test killed cannot be stopped cleanly)."""
        consumer = Consumer(connection or self.broker, SENDER_EVENTS, EVENTS, self.broker_settings)
        sender.bind(
            consumer,
            Inbox(
                self.transactions,
                self.db[INBOX_COLLECTION],
                self.clock,
                consumer=SENDER_EVENTS.name,
            ),
        )
        await consumer.start()
        if connection is None:
            self._consumers.append(consumer)
        return consumer

    async def publish(self, event: Envelope[Any]) -> None:
        await self._publisher.publish(event)

    async def tap(self, routing_key: str) -> AbstractQueue:
        """A private queue that sees every published event of `routing_key`."""
        exchange = await declare_exchange(self._channel, self.broker_settings.exchange)
        queue = await self._channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key)
        return queue

    async def row(self, key: str) -> Document:
        row = await self.db[OUTBOUND_MESSAGES].find_one({"_id": key})
        assert row is not None, f"no outbound row {key}"
        return row

    async def published(self, key: str) -> list[SmsSendUpdated]:
        """The steps of send `key` the sender published (`sms.send.updated`): from its rows
        (outcomes) and from its outbox (what a transaction emitted)."""
        rows = self.db[OUTBOX_COLLECTION].find({"type": SmsSendUpdated.EVENT_TYPE})
        steps = [EVENTS.decode(row["body"]).payload async for row in rows]
        steps += [event.payload for event in self.row_published]
        return [s for s in steps if isinstance(s, SmsSendUpdated) and s.key == key]

    async def message(self, key: str) -> Document:
        """The conversation log's view of send `key`: its published steps applied as the SMS
        worker applies them (the greatest `(reopened, rank)` wins)."""
        steps = await self.published(key)
        assert steps, f"no step of {key} published"
        last = max(steps, key=lambda s: (s.reopened, send_status.rank(s.status)))
        return {"status": last.status, "provider_sid": last.provider_sid}

    async def recipient(self, phone: str = PHONE) -> Document | None:
        return await self.db[SMS_RECIPIENTS].find_one({"_id": phone})

    async def row_reaches(self, key: str, *statuses: str) -> Document:
        async def probe() -> Document | None:
            row = await self.db[OUTBOUND_MESSAGES].find_one({"_id": key})
            return row if row is not None and row["status"] in statuses else None

        return await eventually(probe)

    async def settled(self, event_type: str, count: int) -> None:
        """Wait until the sender queue's consumers acknowledged `count` events of a type."""

        async def probe() -> bool:
            done = 0.0
            for outcome in ("handled", "duplicate"):
                value = REGISTRY.get_sample_value(
                    "givecare_events_consumed_total",
                    {"queue": self.queue, "event_type": event_type, "outcome": outcome},
                )
                done += value or 0.0
            return done >= count

        await eventually(probe)

    async def close(self) -> None:
        for consumer in self._consumers:
            await consumer.stop()
        for transport in self._transports:
            await transport.close()
        await self._publisher.close()
        if not self._channel.is_closed:
            await self._channel.close()


@pytest.fixture
async def harness_factory(
    broker: AbstractRobustConnection,
    broker_settings: BrokerSettings,
    mongo_client: MongoClient,
    db: Database,
) -> AsyncIterator[Callable[[], Any]]:
    """`await harness_factory()` → a running `SenderHarness` (closed after the test)."""
    opened: list[tuple[SenderHarness, FakeTwilioServer]] = []

    async def open_harness() -> SenderHarness:
        await ensure_indexes(db, {**inbox_indexes(14), **outbox_indexes(7), **sender_indexes()})
        # Whole seconds: Twilio's timestamps have no fractions, and in-doubt lookups compare.
        clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
        server = FakeTwilioServer(FakeTwilio(now=clock.now))
        await server.__aenter__()
        channel = await broker.channel(publisher_confirms=True, on_return_raises=True)
        harness = SenderHarness(
            db=db,
            client=mongo_client,
            broker=broker,
            broker_settings=broker_settings,
            twilio=server.twilio,
            twilio_url=server.base_url,
            clock=clock,
            outbox=Outbox(db[OUTBOX_COLLECTION], clock),
            _channel=channel,
            _publisher=await Publisher.open(broker, broker_settings),
        )
        opened.append((harness, server))
        return harness

    yield open_harness
    for harness, server in opened:
        await harness.close()
        await server.__aexit__(None, None, None)


@pytest.fixture
async def harness(harness_factory: Callable[[], Any]) -> SenderHarness:
    result: SenderHarness = await harness_factory()
    return result


def unique_key(prefix: str = "reply") -> str:
    return f"{prefix}:{uuid.uuid4().hex[:12]}"


async def never_returns() -> None:
    """Stands for a process that died mid-call: the coroutine just stops making progress."""
    await asyncio.Event().wait()


# -- contract tests: the fake and the Mongo repositories under the same assertions --------------


class SendLedger(Sends, Claims, Protocol):
    """`outbound_messages` whole: in transactions, as the dispatcher's work list, and the reads
    other services make through `views.py`."""

    async def with_status(self, statuses: Sequence[str], *, limit: int) -> list[SendRecord]: ...

    async def keyed_from(self, prefix: str) -> list[SendRecord]: ...

    async def count_by_status(self) -> dict[str, int]: ...


class RecipientBook(Recipients, SendSlots, Protocol):
    """`sms_recipients` whole: the opt-out read model and the send slots."""


class SenderRepositories(Protocol):
    """The sender's repositories outside any transaction, and `run` for a body in one unit."""

    @property
    def sends(self) -> SendLedger: ...

    @property
    def recipients(self) -> RecipientBook: ...

    async def run(self, body: Callable[[SenderWork], Awaitable[_T]]) -> _T: ...

    @property
    def emitted(self) -> list[Envelope[Any]]:
        """What outcomes published (the fake's: also what its units emitted)."""
        ...


class RecordingPublisher:
    """Records what it publishes (decoded), and hands it on to `publisher` when there is one."""

    def __init__(self, publisher: EventPublisher | None, published: list[Envelope[Any]]) -> None:
        self._publisher = publisher
        self.published = published

    async def publish_body(
        self, body: bytes, *, event_type: str, message_id: str, correlation_id: str | None
    ) -> None:
        if self._publisher is not None:
            await self._publisher.publish_body(
                body, event_type=event_type, message_id=message_id, correlation_id=correlation_id
            )
        self.published.append(EVENTS.decode(body))


class MongoRepositories:
    def __init__(
        self, db: Database, transactions: Transactions[MongoSenderWork], outbox: Outbox
    ) -> None:
        # What outcomes published (from their rows); the fake's `emitted` is the same list.
        self.emitted: list[Envelope[Any]] = []
        events = RowOutbox(
            db[OUTBOUND_MESSAGES],
            RecordingPublisher(None, self.emitted),
            outbox,
            SystemClock(),
            OutboxSettings(),
        )
        self.sends = MongoSends(db, events=events)
        self.recipients = MongoRecipients(db)
        self._transactions = transactions

    async def run(self, body: Callable[[SenderWork], Awaitable[_T]]) -> _T:
        return await self._transactions.run(body)


@pytest.fixture(params=["fake", "mongo"])
async def repositories(
    request: pytest.FixtureRequest, mongo_client: MongoClient, db: Database
) -> SenderRepositories:
    """Each contract test runs twice: on the in-memory fake and on the real server."""
    if request.param == "fake":
        return FakeSenderWork()
    await ensure_indexes(db, sender_indexes())
    outbox = Outbox(db[OUTBOX_COLLECTION], SystemClock())
    return MongoRepositories(db, Transactions(mongo_client, outbox, sender_work(db)), outbox)
