"""Hosting a worker service's consumers and outbox relays in one process, stopped in order.

On shutdown the consumers stop first (in-flight handlers finish and ack), then the relays get one
last pass, so the events those handlers just committed leave promptly instead of waiting for the
next start of some replica.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog
from pymongo.errors import PyMongoError

from shared.broker.consumer import Consumer
from shared.broker.publisher import PublishFailed
from shared.outbox import OutboxRelay

log = structlog.get_logger(__name__)


class WorkerHost:
    def __init__(self, consumers: Sequence[Consumer], relays: Sequence[OutboxRelay] = ()) -> None:
        self._consumers = consumers
        self._relays = relays

    async def run(self, stop: asyncio.Event) -> None:
        """Consume and relay until `stop` is set (e.g. by `shared.lifecycle.shutdown_event`)."""
        relays_stop = asyncio.Event()
        relay_tasks = [asyncio.create_task(relay.run(relays_stop)) for relay in self._relays]
        started: list[Consumer] = []
        try:
            for consumer in self._consumers:
                await consumer.start()
                started.append(consumer)
            log.info("worker running", consumers=[c.queue_name for c in started])
            await stop.wait()
            log.info("worker stopping")
        finally:
            for consumer in started:
                await consumer.stop()
            relays_stop.set()
            await asyncio.gather(*relay_tasks, return_exceptions=True)
            for relay in self._relays:
                with contextlib.suppress(PublishFailed, PyMongoError):
                    await relay.relay_once()
            log.info("worker stopped")
