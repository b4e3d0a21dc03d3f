"""Hosting a worker service: everything it needs opened once, and an orderly run and shutdown.

`WorkerRuntime.open(service)` loads settings, configures logging, waits (bounded) for the broker
and database, applies the inbox/outbox indexes and builds the inbox, outbox and relay; the
service adds its own indexes, consumers and handlers and calls `run`. On SIGTERM the consumers
stop first (in-flight handlers finish and ack), then the relay gets one last pass, so the events
those handlers just committed leave promptly.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import structlog
from aio_pika.abc import AbstractRobustConnection
from aiormq.exceptions import AMQPConnectionError
from pymongo.errors import PyMongoError

from shared.broker.connection import connect
from shared.broker.consumer import Consumer
from shared.broker.publisher import Publisher, PublishFailed
from shared.broker.queues import ConsumerQueue
from shared.broker.retry import RetryPolicy
from shared.broker.topology import declare_all_consumer_queues, declare_exchange
from shared.clock import Clock, SystemClock
from shared.config import (
    BrokerSettings,
    LoggingSettings,
    MongoSettings,
    OpsSettings,
    OutboxSettings,
    load_settings,
)
from shared.events import EventRegistry
from shared.events.catalog import EVENTS
from shared.inbox import INBOX_COLLECTION, Inbox, inbox_indexes
from shared.lifecycle import shutdown_event
from shared.logging import configure_logging
from shared.mongo import (
    Database,
    MongoClient,
    create_client,
    ensure_indexes,
    ping,
    require_transactions,
    service_database,
)
from shared.ops import ops_app, serve_ops
from shared.outbox import OUTBOX_COLLECTION, Outbox, OutboxRelay, outbox_indexes
from shared.row_outbox import RowOutbox
from shared.state_metrics import Probe, outbox_backlog_probe, refresh_periodically
from shared.tracing import configure_tracing, shutdown_tracing
from shared.unit_of_work import Transactions, U, UnitOfWork

log = structlog.get_logger(__name__)
_T = TypeVar("_T")


class Relay(Protocol):
    """What publishes a service's committed events: its `OutboxRelay`, and a `RowOutbox` for
    each collection that keeps its own (`shared.row_outbox`)."""

    async def run(self, stop: asyncio.Event) -> None: ...

    async def relay_once(self) -> int: ...


class WorkerHost:
    """Runs consumers and outbox relays until `stop`, then stops them in order."""

    def __init__(self, consumers: Sequence[Consumer], relays: Sequence[Relay] = ()) -> None:
        self._consumers = consumers
        self._relays = relays

    async def run(self, stop: asyncio.Event) -> None:
        relays_stop = asyncio.Event()
        relay_tasks = [asyncio.create_task(relay.run(relays_stop)) for relay in self._relays]
        started: list[Consumer] = []
        try:
            for consumer in self._consumers:
                await consumer.start()
                started.append(consumer)
            log.info("worker running", consumers=[c.queue_name for c in started])
            await stop.wait()
            log.info("worker stopping")
        finally:
            for consumer in started:
                await consumer.stop()
            relays_stop.set()
            await asyncio.gather(*relay_tasks, return_exceptions=True)
            for relay in self._relays:
                with contextlib.suppress(PublishFailed, PyMongoError):
                    await relay.relay_once()
            log.info("worker stopped")


async def wait_for(what: str, attempt: Callable[[], Awaitable[_T]], seconds: float) -> _T:
    """Retry `attempt` for up to `seconds` while a dependency is still starting."""
    deadline = time.monotonic() + seconds
    delay = 0.25
    while True:
        try:
            return await attempt()
        except (AMQPConnectionError, ConnectionError, OSError, PyMongoError) as error:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("waiting for dependency", dependency=what, error=type(error).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def declare_topology(
    connection: AbstractRobustConnection,
    settings: BrokerSettings,
    queues: Mapping[str, Sequence[str]],
) -> None:
    """Declare every consumer queue of the system (`queues`: name → bindings), so no event is
    unroutable at start-up, whichever service starts first."""
    channel = await connection.channel()
    try:
        exchange = await declare_exchange(channel, settings.exchange)
        await declare_all_consumer_queues(
            channel,
            exchange,
            {settings.queue(name): bindings for name, bindings in queues.items()},
            retry_tiers=RetryPolicy.from_settings(settings).retry_tiers,
            delivery_limit=settings.delivery_limit,
        )
    finally:
        await channel.close()


class WorkerRuntime:
    """The broker connection, database, inbox/outbox and settings of one worker service."""

    def __init__(
        self,
        service: str,
        *,
        broker_settings: BrokerSettings,
        ops_settings: OpsSettings,
        connection: AbstractRobustConnection,
        client: MongoClient,
        db: Database,
        outbox: Outbox,
        relay: OutboxRelay,
        registry: EventRegistry,
        clock: Clock,
        publisher: Publisher,
        outbox_settings: OutboxSettings,
    ) -> None:
        self.service = service
        self.broker_settings = broker_settings
        self.connection = connection
        self.client = client
        self.db = db
        self.outbox = outbox
        self.relay = relay
        self.registry = registry
        self.clock = clock
        self._ops_settings = ops_settings
        self.publisher = publisher
        self._outbox_settings = outbox_settings
        self._row_outboxes: list[RowOutbox] = []

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        service: str,
        *,
        queues: Mapping[str, Sequence[str]],
        registry: EventRegistry = EVENTS,
        clock: Clock | None = None,
    ) -> AsyncIterator[WorkerRuntime]:
        """`queues`: the system's catalogue of consumer queues (`services/queues.py`), all
        declared at start-up."""
        logging_settings = load_settings(LoggingSettings)
        configure_logging(service, level=logging_settings.level, json=logging_settings.as_json)
        configure_tracing(service)  # before any client, which the instrumentations then see
        broker_settings = load_settings(BrokerSettings)
        mongo_settings = load_settings(MongoSettings)
        outbox_settings = load_settings(OutboxSettings)
        ops_settings = load_settings(OpsSettings)
        clock = clock or SystemClock()
        wait = ops_settings.startup_wait_seconds

        client = create_client(mongo_settings, app_name=service)
        try:
            await wait_for("mongodb", lambda: ping(client), wait)
            db = service_database(client, mongo_settings, service)
            await require_transactions(client)
            await ensure_indexes(
                db,
                {
                    **inbox_indexes(mongo_settings.inbox_retention_days),
                    **outbox_indexes(mongo_settings.outbox_retention_days),
                },
            )
            connection = await wait_for(
                "rabbitmq", lambda: connect(broker_settings, name=service), wait
            )
            try:
                await declare_topology(connection, broker_settings, queues)
                publisher = await Publisher.open(connection, broker_settings)
                outbox = Outbox(
                    db[OUTBOX_COLLECTION], clock, lease_seconds=outbox_settings.claim_lease_seconds
                )
                relay = OutboxRelay(
                    outbox, db[OUTBOX_COLLECTION], publisher, outbox_settings, clock
                )
                yield cls(
                    service,
                    broker_settings=broker_settings,
                    ops_settings=ops_settings,
                    connection=connection,
                    client=client,
                    db=db,
                    outbox=outbox,
                    relay=relay,
                    registry=registry,
                    clock=clock,
                    publisher=publisher,
                    outbox_settings=outbox_settings,
                )
            finally:
                await connection.close()
        finally:
            await client.close()
            shutdown_tracing()

    def consumer(self, queue: ConsumerQueue) -> Consumer:
        return Consumer(self.connection, queue, self.registry, self.broker_settings)

    def transactions(self, factory: Callable[..., U]) -> Transactions[U]:
        """Units of work built by `factory(session, outbox)` on this service's database."""
        return Transactions(self.client, self.outbox, factory, relay=self.relay)

    def row_outbox(self, collection: str) -> RowOutbox:
        """The events `collection`'s documents keep until published (`shared.row_outbox`);
        `run` polls for them, counts them in the outbox backlog gauges and settles them at
        shutdown. Its index is the service's to declare (`pending_events_index`)."""
        events = RowOutbox(
            self.db[collection], self.publisher, self.outbox, self.clock, self._outbox_settings
        )
        self._row_outboxes.append(events)
        return events

    def inbox(self, consumer: str, transactions: Transactions[U]) -> Inbox[U]:
        """The idempotent-consumer guard for handlers of `consumer` (usually its queue name)."""
        return Inbox(transactions, self.db[INBOX_COLLECTION], self.clock, consumer=consumer)

    def plain_inbox(self, consumer: str) -> Inbox[UnitOfWork]:
        """An inbox whose handlers only emit events (no repositories of their own)."""
        return self.inbox(consumer, self.transactions(UnitOfWork))

    async def _broker_ready(self) -> None:
        if self.connection.is_closed:
            raise ConnectionError("broker connection closed")

    async def _database_ready(self) -> None:
        await ping(self.client)

    async def run(
        self,
        consumers: Sequence[Consumer],
        *,
        background: Sequence[Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = (),
        probes: Sequence[tuple[str, Probe]] = (),
        stop: asyncio.Event | None = None,
    ) -> None:
        """Consume, relay, serve ops endpoints and run `background` loops until SIGTERM/SIGINT;
        keep the outbox backlog gauges and `probes`' (`shared.state_metrics`) fresh."""
        stop = stop or shutdown_event()

        async def consuming() -> None:
            idle = [c.queue_name for c in consumers if not c.consuming]
            if idle:
                raise ConnectionError(f"not consuming yet: {', '.join(idle)}")

        app = ops_app(
            {
                "broker": self._broker_ready,
                "database": self._database_ready,
                "consumers": consuming,
            }
        )
        port = self._ops_settings.port_for(self.service)
        tasks = [
            asyncio.create_task(serve_ops(app, self._ops_settings.host, port, stop)),
            asyncio.create_task(
                refresh_periodically(
                    [
                        (
                            "outbox",
                            outbox_backlog_probe(
                                self.db[OUTBOX_COLLECTION],
                                self.clock,
                                self.service,
                                self._row_outboxes,
                            ),
                        ),
                        *probes,
                    ],
                    stop,
                )
            ),
            *(asyncio.create_task(loop(stop)) for loop in background),
        ]
        try:
            await WorkerHost(consumers, [self.relay, *self._row_outboxes]).run(stop)
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
