"""Inspecting, replaying and discarding parked events (`<queue>.dlq`), for operators and the
admin API.

Listing shows only metadata (ids, type, error, attempts) — never bodies, which may hold phone
numbers and messages. Replaying moves a message back to its work queue with a fresh attempt
count, publishing (confirmed) before removing it from the parking queue, so a crash mid-replay
duplicates at worst, and the consumer's inbox absorbs duplicates. Replay and discard can be
limited to chosen message ids; the others are returned to the parking queue untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from shared.broker.consumer import (
    ATTEMPT_HEADER,
    ERROR_MESSAGE_HEADER,
    ERROR_TYPE_HEADER,
    FAILED_QUEUE_HEADER,
    PARKED_AT_HEADER,
    persistent_copy,
)
from shared.broker.topology import parking_queue_name

REPLAYED_HEADER = "x-replayed"


@dataclass(frozen=True)
class ParkedEvent:
    message_id: str | None
    event_type: str | None
    attempts: int | None
    error_type: str | None
    error_message: str | None
    failed_queue: str | None
    parked_at: str | None
    death_reason: str | None


def _describe(message: AbstractIncomingMessage) -> ParkedEvent:
    headers: dict[str, Any] = dict(message.headers or {})
    deaths = headers.get("x-death")
    death_reason = None
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        # Parked by the broker itself (delivery limit), not by the runtime.
        death_reason = str(deaths[0].get("reason"))
    attempts = headers.get(ATTEMPT_HEADER)
    return ParkedEvent(
        message_id=message.message_id,
        event_type=message.type,
        attempts=attempts if isinstance(attempts, int) else None,
        error_type=_text(headers.get(ERROR_TYPE_HEADER)),
        error_message=_text(headers.get(ERROR_MESSAGE_HEADER)),
        failed_queue=_text(headers.get(FAILED_QUEUE_HEADER)),
        parked_at=_text(headers.get(PARKED_AT_HEADER)),
        death_reason=death_reason,
    )


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


async def list_parked(
    channel: AbstractChannel, queue: str, *, limit: int = 100
) -> list[ParkedEvent]:
    """Describe up to `limit` parked events of `queue`, leaving them parked."""
    dlq = await channel.declare_queue(parking_queue_name(queue), passive=True)
    held: list[AbstractIncomingMessage] = []
    try:
        while len(held) < limit:
            message = await dlq.get(fail=False)
            if message is None:
                break
            held.append(message)
        return [_describe(message) for message in held]
    finally:
        for message in held:
            await message.nack(requeue=True)


async def replay_parked(
    channel: AbstractChannel,
    queue: str,
    *,
    limit: int = 100,
    message_ids: Collection[str] | None = None,
) -> int:
    """Move parked events back to `queue`'s work queue; return how many moved.

    Looks at up to `limit` parked events; with `message_ids`, moves only those.
    """

    async def replay(message: AbstractIncomingMessage) -> None:
        headers = {
            key: value
            for key, value in (message.headers or {}).items()
            if key != ATTEMPT_HEADER and key != "x-death"
        }
        headers[REPLAYED_HEADER] = _as_int(headers.get(REPLAYED_HEADER)) + 1
        await channel.default_exchange.publish(
            persistent_copy(message, headers), routing_key=queue, mandatory=True
        )

    return await _take_parked(channel, queue, replay, limit=limit, message_ids=message_ids)


async def discard_parked(
    channel: AbstractChannel,
    queue: str,
    *,
    limit: int = 100,
    message_ids: Collection[str] | None = None,
) -> int:
    """Delete parked events for good (an operator decided they must never run); return how many.

    Looks at up to `limit` parked events; with `message_ids`, deletes only those.
    """

    async def keep_nothing(message: AbstractIncomingMessage) -> None:
        return None

    return await _take_parked(channel, queue, keep_nothing, limit=limit, message_ids=message_ids)


async def _take_parked(
    channel: AbstractChannel,
    queue: str,
    act: Callable[[AbstractIncomingMessage], Awaitable[None]],
    *,
    limit: int,
    message_ids: Collection[str] | None,
) -> int:
    """Run `act` on each chosen parked event, then remove it from the parking queue.

    Events not chosen stay unacknowledged while the walk goes on (so `get` moves past them) and
    are returned to the parking queue at the end.
    """
    dlq = await channel.declare_queue(parking_queue_name(queue), passive=True)
    skipped: list[AbstractIncomingMessage] = []
    taken = 0
    try:
        for _ in range(limit):
            message = await dlq.get(fail=False)
            if message is None:
                break
            if message_ids is not None and message.message_id not in message_ids:
                skipped.append(message)
                continue
            await act(message)
            await message.ack()
            taken += 1
    finally:
        for message in skipped:
            await message.nack(requeue=True)
    return taken


def _as_int(value: object) -> int:
    return value if isinstance(value, int) else 0
