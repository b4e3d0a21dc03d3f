"""The broker layout, declared idempotently by whoever starts first.

One durable topic exchange. Per consumer: a quorum work queue bound to the event types it
handles, one delay queue per retry tier whose expired messages dead-letter straight back to the
work queue (not through the exchange, so other consumers never see a retry), and a parking queue
`<queue>.dlq`. The work queue also dead-letters to the parking queue once a message has been
redelivered `delivery_limit` times, so a message that crashes its consumer cannot loop forever.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

_QUORUM = {
    "x-queue-type": "quorum",
    # At-least-once dead-lettering: a message moves to its target only once the target has it.
    "x-dead-letter-strategy": "at-least-once",
    "x-overflow": "reject-publish",
}


# Parked events are looked at by taking and returning them (`list_parked`), and RabbitMQ 4
# counts every return against a quorum queue's delivery limit, 20 by default, dropping the
# message past it. A parking queue must never drop what it holds: the limit is set out of reach.
PARKED_DELIVERY_LIMIT = 1_000_000_000


def retry_queue_name(queue: str, tier: int) -> str:
    return f"{queue}.retry.{tier}"


def parking_queue_name(queue: str) -> str:
    return f"{queue}.dlq"


async def declare_exchange(channel: AbstractChannel, name: str) -> AbstractExchange:
    return await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)


async def declare_consumer_queues(
    channel: AbstractChannel,
    exchange: AbstractExchange,
    queue: str,
    bindings: Iterable[str],
    *,
    retry_tiers: int,
    delivery_limit: int,
) -> AbstractQueue:
    """Declare (or confirm) one consumer's work, delay and parking queues; return the work queue."""
    parking = parking_queue_name(queue)
    await channel.declare_queue(
        parking,
        durable=True,
        arguments={"x-queue-type": "quorum", "x-delivery-limit": PARKED_DELIVERY_LIMIT},
    )
    work = await channel.declare_queue(
        queue,
        durable=True,
        arguments={
            **_QUORUM,
            "x-delivery-limit": delivery_limit,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": parking,
        },
    )
    for tier in range(1, retry_tiers + 1):
        # No queue-level TTL: each message carries its own jittered expiration, so changing the
        # retry settings never conflicts with an already declared queue.
        await channel.declare_queue(
            retry_queue_name(queue, tier),
            durable=True,
            arguments={**_QUORUM, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue},
        )
    for routing_key in bindings:
        await work.bind(exchange, routing_key)
    return work


async def declare_all_consumer_queues(
    channel: AbstractChannel,
    exchange: AbstractExchange,
    queues: Mapping[str, Iterable[str]],
    *,
    retry_tiers: int,
    delivery_limit: int,
) -> None:
    """Declare every consumer's queues (the system's catalogue: `services/queues.py`)."""
    for queue, bindings in queues.items():
        await declare_consumer_queues(
            channel,
            exchange,
            queue,
            bindings,
            retry_tiers=retry_tiers,
            delivery_limit=delivery_limit,
        )
