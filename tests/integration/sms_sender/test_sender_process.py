"""`python -m services.sms_worker.outbound` as a real process: it consumes the sender queue,
sends through the Twilio SDK to the fake, serves its metrics, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import httpx
import pytest
from aio_pika.abc import AbstractRobustConnection

from shared.broker import Publisher
from shared.config import BrokerSettings
from shared.local_servers import free_port
from shared.mongo import Database
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer
from tests.integration.sms_sender.conftest import PHONE, request_event, unique_key
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def test_sender_process_sends_once_and_stops_on_sigterm(
    broker: AbstractRobustConnection,
    broker_settings: BrokerSettings,
    mongodb_url: str,
    mongo_db_name: str,
    db: Database,
) -> None:
    ops_port = free_port()
    async with FakeTwilioServer() as twilio:
        env = {
            **os.environ,
            "RABBITMQ_URL": broker_settings.url.get_secret_value(),
            "RABBITMQ_EXCHANGE": broker_settings.exchange,
            "RABBITMQ_QUEUE_PREFIX": broker_settings.queue_prefix,
            "MONGODB_URL": mongodb_url,
            "MONGODB_DB_SMS_WORKER": mongo_db_name,
            "OPS_PORT": str(ops_port),
            "LOG_FORMAT": "json",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_MESSAGING_SERVICE_SID": "MG" + "0" * 32,
            "TWILIO_API_BASE_URL": twilio.base_url,
            "TWILIO_STATUS_CALLBACK_URL": "https://ingress.example/webhooks/twilio/status",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.sms_worker.outbound",
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
                key = unique_key()
                body = "Your weekly check-in: how is your energy today, 1 to 5?"
                publisher = await Publisher.open(broker, broker_settings)
                await publisher.publish(request_event(key, body=body))
                await publisher.close()

                async def sent() -> bool:
                    row = await db.outbound_messages.find_one({"_id": key})
                    return row is not None and row["status"] == "sent"

                await eventually(sent)
                metrics = (await http.get("/metrics")).text
            process.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(process.communicate(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    assert process.returncode == 0, output.decode(errors="replace")
    assert len(twilio.twilio.creates) == 1
    create = twilio.twilio.creates[0]
    assert create.params["MessagingServiceSid"].startswith("MG")
    assert create.params["To"] == PHONE
    assert 'givecare_sms_sends_total{outcome="sent",transport="twilio"} 1.0' in metrics
    assert "givecare_twilio_request_seconds_bucket" in metrics
    # Neither the number nor the body ever reaches the logs.
    assert PHONE.encode() not in output
    assert body.encode() not in output
    assert b"worker stopped" in output
