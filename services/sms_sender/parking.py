"""Sends that ran out of retries leave their request in the sender queue's parking queue, with
the same headers the consumer runtime writes, so `givecare dlq list|replay sms_sender.events`
shows and replays them; a replayed request starts the send over."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import aiormq
import structlog
from aio_pika.abc import AbstractChannel

from services.sms_sender.records import SendRecord
from shared.broker.consumer import (
    ATTEMPT_HEADER,
    ERROR_MESSAGE_HEADER,
    ERROR_TYPE_HEADER,
    FAILED_QUEUE_HEADER,
    PARKED_AT_HEADER,
)
from shared.broker.publisher import event_message
from shared.broker.topology import parking_queue_name
from shared.logging import mask_text

log = structlog.get_logger(__name__)

RETRIES_EXHAUSTED_ERROR: Final = "RetriesExhausted"
_MAX_ERROR_CHARS: Final = 1_000


class BrokerParkingLot:
    """Publishes (confirmed) to `<queue>.dlq` through the default exchange."""

    def __init__(self, channel: AbstractChannel, queue: str, publish_timeout: float) -> None:
        self._channel = channel
        self._queue = queue
        self._timeout = publish_timeout

    async def park(self, send: SendRecord, attempts: int, error: str) -> None:
        envelope = send.request()
        message = event_message(
            envelope.to_json(),
            event_type=envelope.type,
            message_id=str(envelope.id),
            correlation_id=envelope.correlation_id,
            headers={
                ATTEMPT_HEADER: attempts,
                ERROR_TYPE_HEADER: RETRIES_EXHAUSTED_ERROR,
                ERROR_MESSAGE_HEADER: mask_text(error)[:_MAX_ERROR_CHARS],
                FAILED_QUEUE_HEADER: self._queue,
                PARKED_AT_HEADER: datetime.now(UTC).isoformat(),
            },
        )
        try:
            await self._channel.default_exchange.publish(
                message,
                routing_key=parking_queue_name(self._queue),
                mandatory=True,
                timeout=self._timeout,
            )
        except (TimeoutError, aiormq.exceptions.AMQPError, ConnectionError, RuntimeError):
            # The row already says `failed` with the reason; the parked copy is for operators.
            log.exception("could not park the request of a failed send", outbound_key=send.key)
