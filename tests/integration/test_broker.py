"""The broker runtime against a real RabbitMQ: confirms, unroutable publishes, retries, parking,
competing consumers and graceful shutdown."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from shared.broker import (
    ATTEMPT_HEADER,
    ERROR_MESSAGE_HEADER,
    ERROR_TYPE_HEADER,
    FAILED_QUEUE_HEADER,
    Consumer,
    ConsumerQueue,
    PermanentError,
    Publisher,
    RetryPolicy,
    UnroutableEvent,
    parking_queue_name,
)
from shared.broker.parking import ParkedEvent, list_parked, replay_parked
from shared.config import BrokerSettings
from shared.events import Envelope, EventRegistry, Payload, new_event
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


class Ping(Payload):
    EVENT_TYPE = "test.ping"
    n: int


class Other(Payload):
    EVENT_TYPE = "test.other"
    note: str


def _consumer(
    broker: AbstractRobustConnection, queue: str, event: type[Payload], settings: BrokerSettings
) -> Consumer:
    """A consumer of a test queue that receives `event`."""
    return Consumer(broker, ConsumerQueue(queue, (event,)), _registry(), settings)


def _registry() -> EventRegistry:
    registry = EventRegistry()
    registry.register(Ping)
    registry.register(Other)
    return registry


async def _parked(
    connection: AbstractRobustConnection, queue: str, timeout: float = 15.0
) -> AbstractIncomingMessage:
    channel = await connection.channel()
    dlq = await channel.declare_queue(parking_queue_name(queue), passive=True)

    async def probe() -> AbstractIncomingMessage | None:
        return await dlq.get(no_ack=True, fail=False)

    try:
        return await eventually(probe, timeout=timeout)
    finally:
        await channel.close()


async def _queue_depth(connection: AbstractRobustConnection, queue: str) -> int:
    channel = await connection.channel()
    declared = await channel.declare_queue(queue, passive=True)
    await channel.close()
    count = declared.declaration_result.message_count
    assert count is not None
    return count


async def test_published_event_reaches_its_typed_handler(
    broker: AbstractRobustConnection, broker_settings: BrokerSettings
) -> None:
    received: list[Envelope[Ping]] = []
    consumer = _consumer(broker, "tests.roundtrip", Ping, broker_settings)

    async def on_ping(event: Envelope[Ping]) -> None:
        received.append(event)

    consumer.handle(Ping, on_ping)
    await consumer.start()
    publisher = await Publisher.open(broker, broker_settings)
    sent = new_event(Ping(n=7), idempotency_key="roundtrip-1")
    await publisher.publish(sent)

    async def got() -> bool:
        return bool(received)

    await eventually(got)
    await consumer.stop()
    await publisher.close()
    (event,) = received
    assert isinstance(event.payload, Ping)
    assert event.payload.n == 7
    assert event.id == sent.id
    assert event.correlation_id == sent.correlation_id
    assert await _queue_depth(broker, consumer.queue_name) == 0


async def test_unroutable_publish_raises(
    broker: AbstractRobustConnection, broker_settings: BrokerSettings
) -> None:
    publisher = await Publisher.open(broker, broker_settings)
    with pytest.raises(UnroutableEvent, match=r"test\.ping"):
        await publisher.publish(new_event(Ping(n=1)))
    await publisher.close()


async def test_failing_handler_is_retried_with_growing_delays_then_parked(
    broker: AbstractRobustConnection, broker_settings: BrokerSettings
) -> None:
    attempts_at: list[float] = []
    consumer = _consumer(broker, "tests.always_fails", Ping, broker_settings)

    async def on_ping(event: Envelope[Ping]) -> None:
        attempts_at.append(time.monotonic())
        raise RuntimeError("provider said no to +15551234567")

    consumer.handle(Ping, on_ping)
    await consumer.start()
    publisher = await Publisher.open(broker, broker_settings)
    await publisher.publish(new_event(Ping(n=1)))

    parked = await _parked(broker, consumer.queue_name)
    await consumer.stop()
    await publisher.close()

    policy = RetryPolicy.from_settings(broker_settings)
    assert len(attempts_at) == policy.max_attempts
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts_at)]
    for attempt, gap in enumerate(gaps, start=1):
        # Equal jitter: each delay is at least half of its exponential step.
        assert gap >= policy.delay_ms(attempt, 0.0) / 1000 * 0.9
    headers: dict[str, Any] = dict(parked.headers)
    assert headers[ATTEMPT_HEADER] == policy.max_attempts
    assert headers[ERROR_TYPE_HEADER] == "RuntimeError"
    assert "provider said no" in str(headers[ERROR_MESSAGE_HEADER])
    assert "5551234567" not in str(headers[ERROR_MESSAGE_HEADER])
    assert headers[FAILED_QUEUE_HEADER] == consumer.queue_name
    assert await _queue_depth(broker, consumer.queue_name) == 0


async def test_invalid_payload_is_parked_at_once_with_the_validation_error(
    broker: AbstractRobustConnection, broker_settings: BrokerSettings
) -> None:
    calls: list[Envelope[Ping]] = []
    consumer = _consumer(broker, "tests.invalid", Ping, broker_settings)

    async def on_ping(event: Envelope[Ping]) -> None:
        calls.append(event)

    consumer.handle(Ping, on_ping)
    await consumer.start()
    publisher = await Publisher.open(broker, broker_settings)
    good = new_event(Ping(n=1))
    bad_body = good.to_json().replace(b'"n":1', b'"n":"not a number"')
    await publisher.publish_body(
        bad_body, event_type="test.ping", message_id="bad-1", correlation_id=None
    )

    parked = await _parked(broker, consumer.queue_name)
    await consumer.stop()
    await publisher.close()
    assert calls == []
    assert parked.headers[ATTEMPT_HEADER] == 1
    assert parked.headers[ERROR_TYPE_HEADER] == "InvalidEvent"
    message = str(parked.headers[ERROR_MESSAGE_HEADER])
    assert "payload" in message
    assert "n: Input should be a valid integer" in message
    assert "not a number" not in message  # input values never echoed
    assert parked.body == bad_body


async def test_permanent_error_is_parked_without_retries(
    broker: AbstractRobustConnection, broker_settings: BrokerSettings
) -> None:
    calls = 0
    consumer = _consumer(broker, "tests.permanent", Ping, broker_settings)

    async def on_ping(event: Envelope[Ping]) -> None:
        nonlocal calls
        calls += 1
        raise PermanentError("rule forbids this")

    consumer.handle(Ping, on_ping)
    await consumer.start()
    publisher = await Publisher.open(broker, broker_settings)
    await publisher.publish(new_event(Ping(n=1)))
    parked = await _parked(broker, consumer.queue_name)
    await consumer.stop()
    await publisher.close()
    assert calls == 1
    assert parked.headers[ERROR_TYPE_HEADER] == "PermanentError"


async def test_competing_consumers_share_a_queue_and_redeclaring_is_harmless(
    broker: AbstractRobustConnection, broker_settings: BrokerSettings
) -> None:
    seen: list[int] = []

    async def on_ping(event: Envelope[Ping]) -> None:
        seen.append(event.payload.n)

    consumers = [_consumer(broker, "tests.shared", Ping, broker_settings) for _ in range(3)]
    for consumer in consumers:
        consumer.handle(Ping, on_ping)
        await consumer.start()
    publisher = await Publisher.open(broker, broker_settings)
    await asyncio.gather(*(publisher.publish(new_event(Ping(n=i))) for i in range(60)))

    async def all_seen() -> bool:
        return len(seen) >= 60

    await eventually(all_seen)
    for consumer in consumers:
        await consumer.stop()
    await publisher.close()
    assert sorted(seen) == list(range(60))


async def test_events_of_other_types_are_not_delivered_to_a_consumer(
    broker: AbstractRobustConnection, broker_settings: BrokerSettings
) -> None:
    pings: list[int] = []
    others: list[str] = []
    ping_consumer = _consumer(broker, "tests.pings", Ping, broker_settings)
    other_consumer = _consumer(broker, "tests.others", Other, broker_settings)

    async def on_ping(event: Envelope[Ping]) -> None:
        pings.append(event.payload.n)

    async def on_other(event: Envelope[Other]) -> None:
        others.append(event.payload.note)

    ping_consumer.handle(Ping, on_ping)
    other_consumer.handle(Other, on_other)
    await ping_consumer.start()
    await other_consumer.start()
    publisher = await Publisher.open(broker, broker_settings)
    await publisher.publish(new_event(Ping(n=1)))
    await publisher.publish(new_event(Other(note="x")))

    async def both() -> bool:
        return bool(pings and others)

    await eventually(both)
    await ping_consumer.stop()
    await other_consumer.stop()
    await publisher.close()
    assert pings == [1]
    assert others == ["x"]


async def test_stop_lets_in_flight_handlers_finish_and_ack(
    broker: AbstractRobustConnection, broker_settings: BrokerSettings
) -> None:
    started = asyncio.Event()
    finished: list[int] = []
    consumer = _consumer(broker, "tests.graceful", Ping, broker_settings)

    async def slow(event: Envelope[Ping]) -> None:
        started.set()
        await asyncio.sleep(0.5)
        finished.append(event.payload.n)

    consumer.handle(Ping, slow)
    await consumer.start()
    publisher = await Publisher.open(broker, broker_settings)
    await publisher.publish(new_event(Ping(n=5)))
    await asyncio.wait_for(started.wait(), 10)
    await consumer.stop()
    await publisher.close()
    assert finished == [5]
    assert await _queue_depth(broker, consumer.queue_name) == 0


async def test_parked_events_can_be_listed_and_replayed_once_the_cause_is_fixed(
    broker: AbstractRobustConnection, broker_settings: BrokerSettings
) -> None:
    broken = True
    handled: list[int] = []
    consumer = _consumer(broker, "tests.replay", Ping, broker_settings)

    async def on_ping(event: Envelope[Ping]) -> None:
        if broken:
            raise PermanentError("downstream rejected it")
        handled.append(event.payload.n)

    consumer.handle(Ping, on_ping)
    await consumer.start()
    publisher = await Publisher.open(broker, broker_settings)
    sent = new_event(Ping(n=42))
    await publisher.publish(sent)
    channel = await broker.channel(publisher_confirms=True, on_return_raises=True)

    async def parked_now() -> list[ParkedEvent]:
        return await list_parked(channel, consumer.queue_name)

    (parked,) = await eventually(parked_now)
    assert parked.message_id == str(sent.id)
    assert parked.event_type == "test.ping"
    assert parked.error_type == "PermanentError"
    assert parked.failed_queue == consumer.queue_name
    # Listing leaves it parked, however often: past RabbitMQ 4's default delivery limit (20),
    # which would drop a message from a quorum queue that kept it.
    for _ in range(25):
        assert len(await list_parked(channel, consumer.queue_name)) == 1

    broken = False
    assert await replay_parked(channel, consumer.queue_name) == 1

    async def replayed() -> bool:
        return handled == [42]

    await eventually(replayed)
    assert await list_parked(channel, consumer.queue_name) == []
    await channel.close()
    await consumer.stop()
    await publisher.close()
