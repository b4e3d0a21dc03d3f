"""A private queue on the test's exchange that sees the events a test wants to count."""

from __future__ import annotations

from aio_pika.abc import AbstractQueue, AbstractRobustConnection

from shared.broker import declare_exchange


async def tap_events(
    connection: AbstractRobustConnection, exchange: str, *event_types: str
) -> AbstractQueue:
    """An exclusive queue bound to `event_types`; it goes away with its channel's connection."""
    channel = await connection.channel()
    exchange_obj = await declare_exchange(channel, exchange)
    queue = await channel.declare_queue(exclusive=True)
    for event_type in event_types:
        await queue.bind(exchange_obj, event_type)
    return queue
