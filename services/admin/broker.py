"""The admin's way to RabbitMQ: connected on first use (so the API starts with the broker down),
confirmed publishing for its outbox relay, a channel for parked-event work, and queue depths.

Depths come from passive queue declarations, which every broker answers — no management plugin
or its HTTP credentials needed. Names are those `shared.broker.topology` gives every consumer
queue in `services.queues.CONSUMER_QUEUES`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

import aiormq
import structlog
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from services.admin.errors import BrokerUnavailable, NotFound
from services.queues import CONSUMER_QUEUES
from shared.broker.connection import connect
from shared.broker.publisher import Publisher, PublishFailed
from shared.broker.retry import RetryPolicy
from shared.broker.topology import parking_queue_name, retry_queue_name
from shared.config import BrokerSettings
from shared.worker import declare_topology

log = structlog.get_logger(__name__)

_CONNECT_TIMEOUT_SECONDS: Final = 10.0
_BROKER_ERRORS: Final = (
    aiormq.exceptions.AMQPError,
    ConnectionError,
    OSError,
    TimeoutError,
    RuntimeError,
)


@dataclass(frozen=True)
class QueueDepth:
    """Messages waiting in a consumer's work queue, in its retry delay queues, and parked."""

    ready: int | None
    retrying: int | None
    parked: int | None


def consumer_queue(name: str) -> str:
    """`name` if it is a consumer queue of the catalog (without the environment's prefix)."""
    if name not in CONSUMER_QUEUES:
        raise NotFound(f"no consumer queue {name!r}; known: {', '.join(sorted(CONSUMER_QUEUES))}")
    return name


class BrokerAccess:
    def __init__(self, settings: BrokerSettings, *, name: str) -> None:
        self.settings = settings
        self._name = name
        self._lock = asyncio.Lock()
        self._connection: AbstractRobustConnection | None = None
        self._publisher: Publisher | None = None

    async def _connected(self) -> AbstractRobustConnection:
        async with self._lock:
            if self._connection is None or self._connection.is_closed:
                try:
                    connection = await asyncio.wait_for(
                        connect(self.settings, name=self._name), _CONNECT_TIMEOUT_SECONDS
                    )
                    # Like every service: publishing or replaying must never find a queue missing.
                    await declare_topology(connection, self.settings, CONSUMER_QUEUES)
                except _BROKER_ERRORS as error:
                    log.warning("broker not reachable", error=type(error).__name__)
                    raise BrokerUnavailable("RabbitMQ is not reachable") from error
                self._connection = connection
                self._publisher = None
            return self._connection

    @contextlib.asynccontextmanager
    async def channel(self) -> AsyncIterator[AbstractChannel]:
        """A confirming channel for one operation, closed afterwards."""
        connection = await self._connected()
        try:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        except _BROKER_ERRORS as error:
            raise BrokerUnavailable("RabbitMQ refused a channel") from error
        try:
            yield channel
        except _BROKER_ERRORS as error:
            raise BrokerUnavailable("RabbitMQ failed during the operation") from error
        finally:
            if not channel.is_closed:
                with contextlib.suppress(*_BROKER_ERRORS):
                    await channel.close()

    async def publish_body(
        self, body: bytes, *, event_type: str, message_id: str, correlation_id: str | None
    ) -> None:
        """The outbox relay's publisher: confirmed, mandatory; PublishFailed when not possible."""
        try:
            connection = await self._connected()
        except BrokerUnavailable as error:
            raise PublishFailed("broker not reachable") from error
        if self._publisher is None:
            try:
                self._publisher = await Publisher.open(connection, self.settings)
            except _BROKER_ERRORS as error:
                raise PublishFailed("no publishing channel") from error
        await self._publisher.publish_body(
            body, event_type=event_type, message_id=message_id, correlation_id=correlation_id
        )

    async def queue_depths(self) -> dict[str, QueueDepth]:
        """Every consumer queue's depth; a queue that does not exist counts as None."""
        connection = await self._connected()
        tiers = RetryPolicy.from_settings(self.settings).retry_tiers
        channel: AbstractChannel | None = None

        async def count(queue: str) -> int | None:
            nonlocal channel
            if channel is None or channel.is_closed:
                # A passive declare of a missing queue closes its channel: open another.
                channel = await connection.channel()
            try:
                declared = await channel.declare_queue(queue, passive=True)
            except aiormq.exceptions.ChannelNotFoundEntity:
                return None
            return declared.declaration_result.message_count

        depths: dict[str, QueueDepth] = {}
        try:
            for name in CONSUMER_QUEUES:
                queue = self.settings.queue(name)
                retrying = [await count(retry_queue_name(queue, t)) for t in range(1, tiers + 1)]
                depths[name] = QueueDepth(
                    ready=await count(queue),
                    retrying=sum(n for n in retrying if n is not None),
                    parked=await count(parking_queue_name(queue)),
                )
        except _BROKER_ERRORS as error:
            raise BrokerUnavailable("RabbitMQ did not answer") from error
        finally:
            if channel is not None and not channel.is_closed:
                with contextlib.suppress(*_BROKER_ERRORS):
                    await channel.close()
        return depths

    async def close(self) -> None:
        if self._connection is not None and not self._connection.is_closed:
            await self._connection.close()
        self._connection = None
        self._publisher = None
