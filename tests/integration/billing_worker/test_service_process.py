"""`python -m services.billing_worker` as a real process: it becomes ready, turns a Stripe checkout
into a linked account and a welcome SMS request, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime

import httpx
import pytest
from aio_pika.abc import AbstractRobustConnection

from shared.broker import Publisher
from shared.config import BrokerSettings
from shared.local_servers import free_port
from shared.mongo import Database
from tests.fakes.stripe_api import checkout_session_object, event_object
from tests.integration.billing_worker.conftest import stripe_envelope, tap
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def test_worker_process_links_a_checkout_and_requests_the_welcome(
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
        "MONGODB_DB_BILLING_WORKER": mongo_db_name,
        "OPS_PORT": str(ops_port),
        "LOG_FORMAT": "json",
        "SIGNUP_URL": "https://signup.givecare.test/",
    }
    sms = await tap(broker, broker_settings.exchange, "sms.outbound.requested")
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.billing_worker",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ops_port}") as http:

            async def ready() -> bool:
                try:
                    return (await http.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, timeout=30)
        publisher = await Publisher.open(broker, broker_settings)
        checkout = event_object(
            "evt_process_checkout",
            "checkout.session.completed",
            datetime.now(UTC),
            checkout_session_object("cus_p", "sub_p", phone="+15555550166"),
        )
        await publisher.publish(stripe_envelope(checkout))
        await publisher.close()

        async def welcomed() -> bool:
            return bool(await sms.drain())

        await eventually(welcomed)
        worker.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(worker.communicate(), 30)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()

    assert worker.returncode == 0, output.decode(errors="replace")
    [request] = sms.events
    assert request.idempotency_key == "billing:welcome:+15555550166"
    account = await db.billing_accounts.find_one({"_id": "+15555550166"})
    assert account is not None
    assert account["stripe_customer_id"] == "cus_p"
    indexes = await db.billing_accounts.index_information()
    assert "customer_unique" in indexes
    assert b"5555550166" not in output  # the phone never reaches the logs
