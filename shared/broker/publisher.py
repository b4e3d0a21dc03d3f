"""Publishing events so that "published" means "the broker has it and it reached a queue".

Publisher confirms and persistent messages make a publish durable once it returns; `mandatory`
with `on_return_raises` turns a message no queue is bound for into an error instead of a silent
drop.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

from shared.broker.topology import declare_exchange
from shared.config import BrokerSettings
from shared.events import Envelope
from shared.metrics import EVENTS_PUBLISHED
from shared.tracing import publish_span


class PublishFailed(Exception):
    """The broker did not confirm the message; it may or may not have it."""


class UnroutableEvent(PublishFailed):
    """The broker returned the message: no queue is bound for its routing key."""


def event_message(
    body: bytes,
    *,
    event_type: str,
    message_id: str,
    correlation_id: str | None,
    headers: Mapping[str, Any] | None = None,
) -> aio_pika.Message:
    return aio_pika.Message(
        body,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message_id,
        correlation_id=correlation_id,
        type=event_type,
        timestamp=datetime.now(UTC),
        headers=dict(headers or {}),
    )


class Publisher:
    def __init__(
        self, channel: AbstractChannel, exchange: AbstractExchange, timeout: float
    ) -> None:
        self._channel = channel
        self._exchange = exchange
        self._timeout = timeout

    @classmethod
    async def open(cls, connection: AbstractConnection, settings: BrokerSettings) -> Publisher:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await declare_exchange(channel, settings.exchange)
        return cls(channel, exchange, settings.publish_timeout_seconds)

    async def publish(self, event: Envelope[Any]) -> None:
        await self.publish_body(
            event.to_json(),
            event_type=event.type,
            message_id=str(event.id),
            correlation_id=event.correlation_id,
        )

    async def publish_body(
        self, body: bytes, *, event_type: str, message_id: str, correlation_id: str | None
    ) -> None:
        """Publish an already serialised envelope (the outbox stores them that way), as a span
        of the current trace whose context travels in the message's headers."""
        headers: dict[str, Any] = {}
        with publish_span(event_type, message_id, headers):
            await self._publish(
                event_message(
                    body,
                    event_type=event_type,
                    message_id=message_id,
                    correlation_id=correlation_id,
                    headers=headers,
                ),
                event_type,
            )
        EVENTS_PUBLISHED.labels(event_type).inc()

    async def _publish(self, message: aio_pika.Message, event_type: str) -> None:
        try:
            await self._exchange.publish(
                message, routing_key=event_type, mandatory=True, timeout=self._timeout
            )
        except aiormq.exceptions.PublishError:
            raise UnroutableEvent(f"no queue is bound for {event_type!r}") from None
        except (
            TimeoutError,
            aiormq.exceptions.AMQPError,
            aiormq.exceptions.ChannelInvalidStateError,
            ConnectionError,
        ) as error:
            raise PublishFailed(f"{event_type!r} not confirmed: {type(error).__name__}") from error

    async def close(self) -> None:
        await self._channel.close()
