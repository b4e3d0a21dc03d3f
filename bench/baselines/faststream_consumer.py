"""The SMS worker's handlers under FastStream, as a baseline for the worker benchmark.

`FastStreamRuntime` is the `WorkerRuntime` with one change: `consumer()` returns a consumer
that FastStream drives. The queue, prefetch, event registry, handler functions, inbox (the
idempotent unit of work) and outbox relay are the product's; what differs is the consumer
runtime — FastStream's RabbitMQ subscriber, its middleware chain and FastDepends call
instead of `shared.broker.Consumer`. Idiomatic FastStream acknowledgement: ack once the handler
returned, nack (requeue) on an exception, reject (to the queue's dead-letter target, the parking
queue) for a body that does not decode. No metrics or per-event log context, which the
product's runtime records, so the comparison flatters FastStream a little.
"""

from __future__ import annotations

from faststream import AckPolicy
from faststream.exceptions import RejectMessage
from faststream.rabbit import Channel, QueueType, RabbitBroker, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage

from shared.broker import AlreadyProcessed, Consumer, ConsumerQueue
from shared.events import InvalidEvent
from shared.worker import WorkerRuntime


class FastStreamConsumer(Consumer):
    """Handlers are registered as on `Consumer` (same checks, same dispatch by event type);
    consuming is FastStream's."""

    _broker: RabbitBroker | None = None

    @property
    def consuming(self) -> bool:
        return self._broker is not None

    async def start(self) -> None:
        if not self._handlers:
            raise ValueError(f"consumer {self.queue_name} has no handlers")
        broker = RabbitBroker(
            self._settings.url.get_secret_value(),
            default_channel=Channel(prefetch_count=self._settings.prefetch),
            graceful_timeout=self._settings.shutdown_grace_seconds,
            logger=None,
        )
        # Declared, with its bindings and dead-lettering, by the runtime's topology.
        queue = RabbitQueue(self.queue_name, queue_type=QueueType.QUORUM, declare=False)

        @broker.subscriber(queue, ack_policy=AckPolicy.NACK_ON_ERROR)
        async def on_message(message: RabbitMessage) -> None:
            try:
                event = self._registry.decode(message.body)
                handler = self._handler_for(event.type)
            except InvalidEvent:
                raise RejectMessage from None
            try:
                await handler(event)
            except AlreadyProcessed:
                return

        await broker.start()
        self._broker = broker

    async def stop(self) -> None:
        """FastStream waits (up to the grace period) for running handlers, then closes."""
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.stop()


class FastStreamRuntime(WorkerRuntime):
    """A worker runtime whose consumers FastStream drives."""

    def consumer(self, queue: ConsumerQueue) -> Consumer:
        return FastStreamConsumer(self.connection, queue, self.registry, self.broker_settings)
