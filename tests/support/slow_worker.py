"""A worker process for the graceful-shutdown test: its handler records when it starts, takes a
second, then records that it finished. Configured by RABBITMQ_* / MONGODB_URL and
SLOW_WORKER_DB."""

from __future__ import annotations

import asyncio
import os

from shared.broker import Consumer, connect
from shared.config import BrokerSettings, MongoSettings, load_settings
from shared.events import Envelope, EventRegistry, Payload
from shared.lifecycle import shutdown_event
from shared.logging import configure_logging
from shared.mongo import create_client
from shared.worker import WorkerHost

QUEUE = "tests.slow_worker"


class Job(Payload):
    EVENT_TYPE = "test.job"
    seconds: float


async def main() -> None:
    configure_logging("slow-worker", json=True)
    broker_settings = load_settings(BrokerSettings)
    client = create_client(load_settings(MongoSettings))
    progress = client.get_database(os.environ["SLOW_WORKER_DB"]).progress
    registry = EventRegistry()
    registry.register(Job)

    async def work(event: Envelope[Job]) -> None:
        await progress.insert_one({"_id": f"started:{event.id}"})
        await asyncio.sleep(event.payload.seconds)
        await progress.insert_one({"_id": f"finished:{event.id}"})

    connection = await connect(broker_settings, name="slow-worker")
    consumer = Consumer(connection, QUEUE, registry, broker_settings)
    consumer.handle(Job, work)
    stop = shutdown_event()
    await WorkerHost([consumer]).run(stop)
    await connection.close()
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
