"""The consumer runtime: one work queue, typed handlers, retries, parking, graceful shutdown.

A message is acknowledged only after its handler returned (the effect is durable), after it was
handed to a retry delay queue, or after it was parked — each hand-over confirmed by the broker
first. Nothing is acknowledged on hope, so a crash at any point means redelivery, never loss;
handlers make redelivery harmless with the inbox.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TypeVar

import aio_pika
import aiormq
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
    AbstractQueue,
)

from shared.broker.queues import ConsumerQueue
from shared.broker.retry import RetryPolicy
from shared.broker.topology import (
    declare_consumer_queues,
    declare_exchange,
    parking_queue_name,
    retry_queue_name,
)
from shared.config import BrokerSettings
from shared.events import Envelope, EventRegistry, InvalidEvent, Payload, topic_matches
from shared.logging import bind_event_context, mask_text
from shared.metrics import EVENTS_CONSUMED, HANDLER_SECONDS
from shared.tracing import consume_span

log = structlog.get_logger(__name__)

ATTEMPT_HEADER = "x-attempt"
ERROR_TYPE_HEADER = "x-error-type"
ERROR_MESSAGE_HEADER = "x-error-message"
FAILED_QUEUE_HEADER = "x-failed-queue"
PARKED_AT_HEADER = "x-parked-at"
_MAX_ERROR_CHARS = 1_000

P = TypeVar("P", bound=Payload)
Handler = Callable[[Envelope[Any]], Awaitable[None]]


# False only while a handler runs on the first delivery of an event's first attempt: nothing can
# have handled it yet, so an inbox may skip looking (`shared.inbox`). A redelivery (the
# broker's flag), a retry, or a handler called outside a consumer: True.
_MAYBE_HANDLED_BEFORE: ContextVar[bool] = ContextVar("maybe_handled_before", default=True)


def maybe_handled_before() -> bool:
    """Whether the event in hand may have been handled before (see `_MAYBE_HANDLED_BEFORE`).
    An event the outbox published twice arrives as a first delivery; the inbox's unique row
    still drops it, only later."""
    return _MAYBE_HANDLED_BEFORE.get()


class AlreadyProcessed(Exception):
    """The event's effect is already durable (the inbox has it): acknowledge and move on."""


class PermanentError(Exception):
    """Retrying cannot help (bad data, a rule says no): park the event at once."""


class Consumer:
    """Consumes one work queue and dispatches each event to the handler for its type; the
    handlers must cover exactly the events the queue declares."""

    def __init__(
        self,
        connection: AbstractConnection,
        queue: ConsumerQueue,
        registry: EventRegistry,
        settings: BrokerSettings,
        *,
        unit_random: Callable[[], float] = random.random,
    ) -> None:
        self._connection = connection
        self._declared = queue
        self._queue_name = settings.queue(queue.name)
        self._registry = registry
        self._settings = settings
        self._retry = RetryPolicy.from_settings(settings)
        self._unit_random = unit_random
        self._handlers: dict[str, Handler] = {}
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()

    @property
    def queue_name(self) -> str:
        return self._queue_name

    @property
    def consuming(self) -> bool:
        return self._consumer_tag is not None

    def handle(
        self,
        model: type[P],
        handler: Callable[[Envelope[P]], Awaitable[None]],
        *,
        event_type: str | None = None,
    ) -> None:
        """Route `event_type` (default: the model's type, possibly a pattern) to `handler`."""
        binding = event_type or model.EVENT_TYPE
        if binding not in self._declared.bindings:
            raise ValueError(
                f"{binding!r} is not bound to {self._declared.name} (its queue declaration "
                f"binds {', '.join(self._declared.bindings)})"
            )
        if binding in self._handlers:
            raise ValueError(f"{binding!r} already has a handler on {self._queue_name}")
        if not issubclass(self._registry.model_for(binding), model):
            raise ValueError(f"{binding!r} is not registered with {model.__name__}")
        self._handlers[binding] = handler

    async def start(self) -> None:
        """Declare the topology and begin consuming."""
        unhandled = [b for b in self._declared.bindings if b not in self._handlers]
        if unhandled:
            raise ValueError(
                f"consumer {self._declared.name} has no handler for {', '.join(unhandled)}"
            )
        channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        await channel.set_qos(prefetch_count=self._settings.prefetch)
        exchange = await declare_exchange(channel, self._settings.exchange)
        self._queue = await declare_consumer_queues(
            channel,
            exchange,
            self._queue_name,
            self._declared.bindings,
            retry_tiers=self._retry.retry_tiers,
            delivery_limit=self._settings.delivery_limit,
        )
        self._channel = channel
        self._consumer_tag = await self._queue.consume(self._on_message)
        log.info("consumer started", queue=self._queue_name, bindings=sorted(self._handlers))

    async def stop(self) -> None:
        """Stop taking messages, let in-flight handlers finish (bounded), then close."""
        if self._queue is not None and self._consumer_tag is not None:
            tag, self._consumer_tag = self._consumer_tag, None
            try:
                await self._queue.cancel(tag)
            except (aiormq.exceptions.AMQPError, ConnectionError, RuntimeError):
                log.warning("consumer cancel failed; closing anyway", queue=self._queue_name)
        if self._in_flight:
            _, pending = await asyncio.wait(
                set(self._in_flight), timeout=self._settings.shutdown_grace_seconds
            )
            if pending:
                # Unacked messages are requeued by the broker when the channel closes.
                log.warning("handlers still running at shutdown", count=len(pending))
                for task in pending:
                    task.cancel()
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()
        self._channel = None
        log.info("consumer stopped", queue=self._queue_name)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            await self._process(message)
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def _process(self, message: AbstractIncomingMessage) -> None:
        attempt = _attempt_of(message) + 1
        try:
            event = self._registry.decode(message.body)
            handler = self._handler_for(event.type)
        except InvalidEvent as error:
            await self._park(message, attempt, error)
            EVENTS_CONSUMED.labels(self._queue_name, "invalid", "parked").inc()
            return
        with (
            consume_span(
                self._queue_name,
                event.type,
                message.message_id,
                message.headers,
                event.correlation_id,
            ),
            bind_event_context(str(event.id), event.type, event.correlation_id),
        ):
            started = time.perf_counter()
            first_sight = _MAYBE_HANDLED_BEFORE.set(attempt > 1 or bool(message.redelivered))
            try:
                await handler(event)
            except AlreadyProcessed:
                outcome = "duplicate"
                log.info("event already processed", queue=self._queue_name)
            except PermanentError as error:
                outcome = "parked"
                await self._park(message, attempt, error)
            except Exception as error:
                outcome = await self._retry_or_park(message, attempt, error)
            else:
                outcome = "handled"
            _MAYBE_HANDLED_BEFORE.reset(first_sight)
            elapsed = time.perf_counter() - started
            HANDLER_SECONDS.labels(self._queue_name, event.type).observe(elapsed)
            EVENTS_CONSUMED.labels(self._queue_name, event.type, outcome).inc()
            if outcome in ("handled", "duplicate"):
                await _settle(message.ack())
                log.debug(
                    "event settled",
                    queue=self._queue_name,
                    outcome=outcome,
                    attempt=attempt,
                    duration_ms=round(elapsed * 1000, 2),
                )

    def _handler_for(self, event_type: str) -> Handler:
        handler = self._handlers.get(event_type)
        if handler is not None:
            return handler
        for pattern, candidate in self._handlers.items():
            if topic_matches(pattern, event_type):
                return candidate
        raise InvalidEvent(f"no handler for {event_type!r} on {self._queue_name}")

    async def _retry_or_park(
        self, message: AbstractIncomingMessage, attempt: int, error: Exception
    ) -> str:
        if not self._retry.should_retry(attempt):
            await self._park(message, attempt, error)
            return "parked"
        delay_ms = self._retry.delay_ms(attempt, self._unit_random())
        headers = {
            **(message.headers or {}),
            ATTEMPT_HEADER: attempt,
            ERROR_TYPE_HEADER: type(error).__name__,
            ERROR_MESSAGE_HEADER: _error_text(error),
        }
        target = retry_queue_name(self._queue_name, attempt)
        if await self._forward(message, target, headers, expiration_ms=delay_ms):
            log.warning(
                "event failed; retry scheduled",
                queue=self._queue_name,
                attempt=attempt,
                delay_ms=delay_ms,
                error_type=type(error).__name__,
                error=_error_text(error),
            )
        return "retried"

    async def _park(self, message: AbstractIncomingMessage, attempt: int, error: Exception) -> None:
        headers = {
            **(message.headers or {}),
            ATTEMPT_HEADER: attempt,
            ERROR_TYPE_HEADER: type(error).__name__,
            ERROR_MESSAGE_HEADER: _error_text(error),
            FAILED_QUEUE_HEADER: self._queue_name,
            PARKED_AT_HEADER: datetime.now(UTC).isoformat(),
        }
        if await self._forward(message, parking_queue_name(self._queue_name), headers):
            log.error(
                "event parked",
                queue=self._queue_name,
                attempt=attempt,
                error_type=type(error).__name__,
                error=_error_text(error),
                message_id=message.message_id,
            )

    async def _forward(
        self,
        message: AbstractIncomingMessage,
        queue: str,
        headers: dict[str, Any],
        *,
        expiration_ms: int | None = None,
    ) -> bool:
        """Hand the message to `queue` (confirmed), then ack it; on failure, leave it unacked."""
        assert self._channel is not None
        copy = persistent_copy(message, headers, expiration_ms=expiration_ms)
        try:
            await self._channel.default_exchange.publish(
                copy,
                routing_key=queue,
                mandatory=True,
                timeout=self._settings.publish_timeout_seconds,
            )
        except (TimeoutError, aiormq.exceptions.AMQPError, ConnectionError, RuntimeError):
            log.exception("could not hand message over; it will be redelivered", target=queue)
            await _settle(message.nack(requeue=True))
            return False
        await _settle(message.ack())
        return True


def persistent_copy(
    message: AbstractIncomingMessage, headers: dict[str, Any], *, expiration_ms: int | None = None
) -> aio_pika.Message:
    """The same event with new headers, to hand to another queue (retry, parking, replay)."""
    return aio_pika.Message(
        message.body,
        headers=headers,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        type=message.type,
        timestamp=message.timestamp,
        expiration=expiration_ms / 1000 if expiration_ms is not None else None,
    )


def _attempt_of(message: AbstractIncomingMessage) -> int:
    value = (message.headers or {}).get(ATTEMPT_HEADER, 0)
    return value if isinstance(value, int) and value >= 0 else 0


def _error_text(error: BaseException) -> str:
    return mask_text(f"{error}")[:_MAX_ERROR_CHARS] or type(error).__name__


async def _settle(outcome: Awaitable[Any]) -> None:
    """Ack/nack; if the channel is gone the broker redelivers, which the inbox makes harmless."""
    try:
        await outcome
    except (aiormq.exceptions.AMQPError, ConnectionError, RuntimeError):
        log.warning("could not settle message; the broker will redeliver it")
