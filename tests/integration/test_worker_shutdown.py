"""A real worker process on `WorkerRuntime`: it reports ready on its ops port, and on SIGTERM it
stops taking messages, finishes the handler in flight, acknowledges it and exits cleanly — the
event is neither lost nor handled twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import aiormq
import httpx
import pytest
from aio_pika.abc import AbstractRobustConnection

from shared.broker import Publisher
from shared.config import BrokerSettings
from shared.events import new_event
from shared.local_servers import free_port
from shared.mongo import Database
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
    ops_port = free_port()
    env = {
        **os.environ,
        "RABBITMQ_URL": broker_settings.url.get_secret_value(),
        "RABBITMQ_EXCHANGE": broker_settings.exchange,
        "RABBITMQ_QUEUE_PREFIX": broker_settings.queue_prefix,
        "MONGODB_URL": mongodb_url,
        "MONGODB_DB_SMS_WORKER": mongo_db_name,
        "OPS_PORT": str(ops_port),
        "LOG_FORMAT": "json",
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.slow_worker",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )

    async def consuming() -> bool:
        # A passive declare of a missing queue closes its channel, so each probe gets its own.
        channel = await broker.channel()
        try:
            queue = await channel.declare_queue(broker_settings.queue(QUEUE), passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity:
            return False
        finally:
            if not channel.is_closed:
                await channel.close()
        return bool(queue.declaration_result.consumer_count)

    try:
        await eventually(consuming, timeout=30)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ops_port}") as http:

            async def ready() -> bool:
                try:
                    return (await http.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready)
            metrics = (await http.get("/metrics")).text
            assert "givecare_events_consumed_total" in metrics
        publisher = await Publisher.open(broker, broker_settings)
        job = new_event(Job(seconds=1.0))
        await publisher.publish(job)
        await publisher.close()

        async def started() -> bool:
            return await db.progress.find_one({"_id": f"started:{job.id}"}) is not None

        await eventually(started)
        worker.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(worker.communicate(), 30)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()

    assert worker.returncode == 0, output.decode(errors="replace")
    assert await db.progress.find_one({"_id": f"finished:{job.id}"}) is not None, output.decode()
    channel = await broker.channel()
    queue = await channel.declare_queue(broker_settings.queue(QUEUE), passive=True)
    assert queue.declaration_result.message_count == 0  # acked, not requeued
    await channel.close()
    assert b"worker stopped" in output
