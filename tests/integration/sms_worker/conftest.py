"""The inbound SMS worker, wired as `python -m services.sms_worker` wires it, in this process.

`sms_worker` starts the service against the session's real RabbitMQ and MongoDB-protocol
server (own exchange, queue prefix and database per test), publishes `sms.inbound.received`
like ingress does, and reads what the service wrote: its collections and its outbox.

`sms_work_in` is the repository contract tests' one fixture: each body runs in one unit of
work, the in-memory fake's or a real transaction on the server's, so the same assertions hold
both to the same promises.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import pytest
from aio_pika.abc import AbstractRobustConnection

from services.queues import CONSUMER_QUEUES
from services.sms_worker.bootstrap import SERVICE, inbound_consumer
from services.sms_worker.domain.responder import Responder, RulesResponder
from services.sms_worker.queues import INBOUND
from services.sms_worker.settings import SmsWorkerSettings
from services.sms_worker.storage import sms_worker_indexes
from services.sms_worker.unit_of_work import SmsWork, sms_work
from shared.broker import Publisher
from shared.clock import SystemClock
from shared.config import BrokerSettings, LinkSettings, SubscriptionSettings
from shared.events import Envelope, Payload, new_event
from shared.events.catalog import EVENTS, MediaItem, SmsInboundReceived, SmsOutboundRequested
from shared.inbox import INBOX_COLLECTION
from shared.mongo import Database, ensure_indexes
from shared.outbox import OUTBOX_COLLECTION, Outbox
from shared.unit_of_work import Transactions
from shared.worker import WorkerHost, WorkerRuntime
from tests.fakes.sms_worker import FakeSmsWork
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
_sids = itertools.count(1)
_T = TypeVar("_T")


class SmsWorkIn(Protocol):
    """Runs `body` in one unit of work and returns what it returned."""

    async def __call__(self, body: Callable[[SmsWork], Awaitable[_T]]) -> _T: ...


class _MongoWork:
    """Each body in its own transaction on a database with the service's indexes."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._transactions = Transactions(
            db.client, Outbox(db[OUTBOX_COLLECTION], SystemClock()), sms_work(db)
        )
        self._indexed = False

    async def __call__(self, body: Callable[[SmsWork], Awaitable[_T]]) -> _T:
        if not self._indexed:
            await ensure_indexes(self._db, sms_worker_indexes())
            self._indexed = True
        return await self._transactions.run(body)


@pytest.fixture(params=["fake", "mongo"])
def sms_work_in(request: pytest.FixtureRequest) -> SmsWorkIn:
    """The unit of work a contract test runs against: the fake, then the real server."""
    if request.param == "fake":
        return FakeSmsWork().run
    return _MongoWork(request.getfixturevalue("db"))


@dataclass
class SmsWorker:
    """A running inbound worker and the handles a test needs around it."""

    db: Database
    publisher: Publisher
    broker_settings: BrokerSettings

    async def publish(self, event: Envelope[Any]) -> None:
        await self.publisher.publish(event)

    def inbound(
        self,
        text: str,
        *,
        phone: str = "+14155550100",
        at: datetime = START,
        sid: str | None = None,
        opt_out_type: str | None = None,
        media: list[MediaItem] | None = None,
    ) -> Envelope[SmsInboundReceived]:
        """An `sms.inbound.received` event as ingress would publish it."""
        message_sid = sid or f"SM{next(_sids):032d}"
        return new_event(
            SmsInboundReceived(
                message_sid=message_sid,
                from_number=phone,
                to_number="+18005550199",
                body=text,
                num_media=len(media or []),
                media=media or [],
                opt_out_type=opt_out_type,
                received_at=at,
            ),
            idempotency_key=f"twilio:{message_sid}",
        )

    async def handled(self, event: Envelope[Any], timeout: float = 15) -> None:
        """Wait until the worker has applied the event: an inbound SMS's record is there (it
        is the handler's inbox row), any other event's inbox row."""
        if isinstance(event.payload, SmsInboundReceived):
            rows = self.db.messages
            row_filter = {"_id": f"in:{event.payload.message_sid}", "event_id": str(event.id)}
        else:
            rows = self.db[INBOX_COLLECTION]
            row_filter = {"_id": f"{INBOUND.name}:{event.id}"}

        async def done() -> bool:
            return await rows.find_one(row_filter, {"_id": 1}) is not None

        await eventually(done, timeout=timeout)

    async def text(self, text: str, **kwargs: Any) -> list[SmsOutboundRequested]:
        """Send one SMS, wait until it is handled, return the SMS it requested."""
        event = self.inbound(text, **kwargs)
        await self.publish(event)
        await self.handled(event)
        return await self.requested(event)

    async def conversation(
        self, texts: list[str], **kwargs: Any
    ) -> list[list[SmsOutboundRequested]]:
        return [await self.text(text, **kwargs) for text in texts]

    async def emitted(self, event: Envelope[Any], event_type: str) -> list[Envelope[Payload]]:
        """Events of `event_type` in the outbox caused by `event`."""
        rows = self.db[OUTBOX_COLLECTION].find(
            {"type": event_type, "correlation_id": event.correlation_id}
        )
        decoded = [EVENTS.decode(row["body"]) async for row in rows]
        return [e for e in decoded if e.causation_id == str(event.id)]

    async def requested(self, event: Envelope[Any]) -> list[SmsOutboundRequested]:
        events = await self.emitted(event, SmsOutboundRequested.EVENT_TYPE)
        payloads = [e.payload for e in events]
        assert all(isinstance(p, SmsOutboundRequested) for p in payloads)
        return payloads  # type: ignore[return-value]

    async def user(self, phone: str = "+14155550100") -> dict[str, Any]:
        user = await self.db.users.find_one({"phone": phone})
        assert user is not None, "no user for that phone"
        return user

    async def profile(self, phone: str = "+14155550100") -> dict[str, Any]:
        user = await self.user(phone)
        profile = await self.db.user_profiles.find_one({"_id": user["_id"]})
        assert profile is not None
        return profile


StartWorker = Callable[..., AbstractAsyncContextManager[SmsWorker]]


@pytest.fixture
def start_sms_worker(
    monkeypatch: pytest.MonkeyPatch,
    broker: AbstractRobustConnection,
    broker_settings: BrokerSettings,
    mongodb_url: str,
    mongo_db_name: str,
    db: Database,
) -> StartWorker:
    """`async with start_sms_worker(...) as worker:` runs the service."""
    for name, value in {
        "RABBITMQ_URL": broker_settings.url.get_secret_value(),
        "RABBITMQ_EXCHANGE": broker_settings.exchange,
        "RABBITMQ_QUEUE_PREFIX": broker_settings.queue_prefix,
        "RABBITMQ_PREFETCH": str(broker_settings.prefetch),
        "RABBITMQ_MAX_ATTEMPTS": str(broker_settings.max_attempts),
        "RABBITMQ_RETRY_BASE_DELAY_MS": str(broker_settings.retry_base_delay_ms),
        "RABBITMQ_RETRY_MAX_DELAY_MS": str(broker_settings.retry_max_delay_ms),
        "RABBITMQ_SHUTDOWN_GRACE_SECONDS": "5",
        "MONGODB_URL": mongodb_url,
        "MONGODB_DB_SMS_WORKER": mongo_db_name,
        "OUTBOX_POLL_INTERVAL_SECONDS": "0.2",
        "LOG_FORMAT": "console",
    }.items():
        monkeypatch.setenv(name, value)

    @asynccontextmanager
    async def start(
        *,
        subscriptions: bool = False,
        responder: Responder | None = None,
        settings: SmsWorkerSettings | None = None,
    ) -> AsyncIterator[SmsWorker]:
        worker_settings = settings or SmsWorkerSettings()
        async with WorkerRuntime.open(SERVICE, queues=CONSUMER_QUEUES) as runtime:
            consumer = await inbound_consumer(
                runtime,
                worker_settings,
                SubscriptionSettings(enabled=subscriptions),
                responder or RulesResponder(worker_settings.reply_max_chars),
                LinkSettings(),
            )
            stop = asyncio.Event()
            host = asyncio.create_task(WorkerHost([consumer], [runtime.relay]).run(stop))
            publisher = await Publisher.open(broker, broker_settings)
            try:
                await eventually(_consuming(consumer))
                yield SmsWorker(db, publisher, broker_settings)
            finally:
                stop.set()
                await asyncio.wait_for(host, 15)
                await publisher.close()

    return start


def _consuming(consumer: Any) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return bool(consumer.consuming)

    return probe
