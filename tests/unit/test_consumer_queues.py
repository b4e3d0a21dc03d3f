"""Queues are declared once, beside their handlers: a consumer refuses a handler its queue does
not bind and refuses to start with a bound event nobody handles; the system's catalogue is the
services' declarations, each queue once."""

from __future__ import annotations

from typing import Any, cast

import pytest
from aio_pika.abc import AbstractConnection

from services.queues import CONSUMER_QUEUES, SYSTEM_QUEUES
from shared.broker import Consumer, ConsumerQueue, catalogue
from shared.config import BrokerSettings
from shared.events import Envelope, EventRegistry, Payload
from shared.events.catalog import EVENTS


class Ping(Payload):
    EVENT_TYPE = "test.ping"


class Pong(Payload):
    EVENT_TYPE = "test.pong"


class _NoBroker:
    """Refuses every use: the checks under test happen before the broker is touched."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the broker was used ({name})")


def _consumer(queue: ConsumerQueue) -> Consumer:
    registry = EventRegistry()
    registry.register(Ping)
    registry.register(Pong)
    return Consumer(cast(AbstractConnection, _NoBroker()), queue, registry, BrokerSettings())


async def _ignore(event: Envelope[Any]) -> None:
    return None


def test_a_handler_for_an_event_the_queue_does_not_bind_is_refused() -> None:
    consumer = _consumer(ConsumerQueue("tests.q", (Ping,)))
    with pytest.raises(ValueError, match=r"not bound to tests\.q"):
        consumer.handle(Pong, _ignore)


async def test_a_consumer_with_a_bound_event_nobody_handles_does_not_start() -> None:
    consumer = _consumer(ConsumerQueue("tests.q", (Ping, Pong)))
    consumer.handle(Ping, _ignore)
    with pytest.raises(ValueError, match=r"no handler for test\.pong"):
        await consumer.start()


def test_a_queue_binds_each_event_once_and_is_declared_once() -> None:
    with pytest.raises(ValueError, match="binds an event type twice"):
        ConsumerQueue("tests.q", (Ping, Ping))
    with pytest.raises(ValueError, match="receives no event"):
        ConsumerQueue("tests.q", ())
    with pytest.raises(ValueError, match="declared twice"):
        catalogue([ConsumerQueue("tests.q", (Ping,)), ConsumerQueue("tests.q", (Pong,))])


WORKERS = {"sms_worker", "sms_sender", "billing_worker", "scheduler"}


def test_the_system_catalogue_is_every_services_declarations() -> None:
    assert list(CONSUMER_QUEUES) == [queue.name for queue in SYSTEM_QUEUES]
    for queue in SYSTEM_QUEUES:
        assert queue.name.split(".")[0] in {
            "sms_worker",
            "sms_sender",
            "billing_worker",
            "scheduler",
        }
        for binding, model in zip(queue.bindings, queue.events, strict=True):
            # Every binding decodes to the payload the declaration names.
            assert issubclass(EVENTS.model_for(binding), model)
    # Every event some service publishes has a queue waiting for it.
    bound = {binding for bindings in CONSUMER_QUEUES.values() for binding in bindings}
    assert set(EVENTS.types) <= bound
