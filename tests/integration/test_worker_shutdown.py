"""A real worker process on `WorkerRuntime`: it reports ready on its ops port, and on SIGTERM it
stops taking messages, finishes the handler in flight, acknowledges it and exits cleanly — the
event is neither lost nor handled twice."""

from __future__ import annotations

import pytest
from aio_pika.abc import AbstractRobustConnection

from shared.broker import Publisher
from shared.config import BrokerSettings
from shared.events import new_event
from shared.mongo import Database
from tests.support.processes import ServiceProcess, service_environment
from tests.support.slow_worker import QUEUE, Job
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def test_sigterm_finishes_in_flight_work_then_exits(
    broker: AbstractRobustConnection,
    broker_settings: BrokerSettings,
    mongodb_url: str,
    mongo_db_name: str,
    db: Database,
) -> None:
    env = service_environment(
        broker_settings, mongodb_url, service="sms_worker", database=mongo_db_name
    )
    async with ServiceProcess("tests.support.slow_worker", env) as worker:
        metrics = (await worker.http.get("/metrics")).text
        assert "givecare_events_consumed_total" in metrics
        publisher = await Publisher.open(broker, broker_settings)
        job = new_event(Job(seconds=1.0))
        await publisher.publish(job)
        await publisher.close()

        async def started() -> bool:
            return await db.progress.find_one({"_id": f"started:{job.id}"}) is not None

        await eventually(started)
        output = await worker.stop()

    assert worker.returncode == 0, output.decode(errors="replace")
    assert await db.progress.find_one({"_id": f"finished:{job.id}"}) is not None, output.decode()
    channel = await broker.channel()
    queue = await channel.declare_queue(broker_settings.queue(QUEUE), passive=True)
    assert queue.declaration_result.message_count == 0  # acked, not requeued
    await channel.close()
    assert b"worker stopped" in output
