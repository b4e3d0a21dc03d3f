"""`python -m services.sms_sender` as a real process: it consumes the sender queue,
sends through the Twilio SDK to the fake, serves its metrics, and stops cleanly on SIGTERM."""

from __future__ import annotations

import pytest
from aio_pika.abc import AbstractRobustConnection

from services.devtools.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer
from shared.broker import Publisher
from shared.config import BrokerSettings
from shared.mongo import Database
from tests.integration.sms_sender.conftest import PHONE, request_event, unique_key
from tests.support.processes import ServiceProcess, service_environment
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def test_sender_process_sends_once_and_stops_on_sigterm(
    broker: AbstractRobustConnection,
    broker_settings: BrokerSettings,
    mongodb_url: str,
    mongo_db_name: str,
    db: Database,
) -> None:
    async with FakeTwilioServer() as twilio:
        env = service_environment(
            broker_settings,
            mongodb_url,
            service="sms_sender",
            database=mongo_db_name,
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            TWILIO_MESSAGING_SERVICE_SID="MG" + "0" * 32,
            TWILIO_API_BASE_URL=twilio.base_url,
            TWILIO_STATUS_CALLBACK_URL="https://ingress.example/webhooks/twilio/status",
        )
        async with ServiceProcess("services.sms_sender", env) as process:
            key = unique_key()
            body = "Your weekly check-in: how is your energy today, 1 to 5?"
            publisher = await Publisher.open(broker, broker_settings)
            await publisher.publish(request_event(key, body=body))
            await publisher.close()

            async def sent() -> bool:
                row = await db.outbound_messages.find_one({"_id": key})
                return row is not None and row["status"] == "sent"

            await eventually(sent)
            metrics = ""

            async def counted() -> bool:
                # The outcome is counted once its transaction committed and its event left,
                # a moment after the row shows it.
                nonlocal metrics
                metrics = (await process.http.get("/metrics")).text
                return 'givecare_sms_sends_total{outcome="sent"' in metrics

            await eventually(counted)
            output = await process.stop()

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
