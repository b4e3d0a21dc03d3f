"""`python -m services.sms_worker` as a real process: it consumes `sms_worker.inbound`, its
relay publishes the reply request to the broker, and SIGTERM stops it cleanly. A bad setting
stops it at start-up, naming the variable."""

from __future__ import annotations

import asyncio
import sys

import pytest
from aio_pika.abc import AbstractRobustConnection

from shared.broker import Publisher
from shared.config import BrokerSettings
from shared.events import new_event
from shared.events.catalog import EVENTS, SmsInboundReceived, SmsOutboundRequested
from tests.integration.sms_worker.conftest import START
from tests.support.processes import ServiceProcess, service_environment
from tests.support.taps import tap_events
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


def _environment(
    broker_settings: BrokerSettings, mongodb_url: str, mongo_db_name: str
) -> dict[str, str]:
    return service_environment(
        broker_settings, mongodb_url, service="sms_worker", database=mongo_db_name
    )


async def test_service_replies_through_the_broker_and_stops_on_sigterm(
    broker: AbstractRobustConnection,
    broker_settings: BrokerSettings,
    mongodb_url: str,
    mongo_db_name: str,
) -> None:
    tap = await tap_events(broker, broker_settings.exchange, SmsOutboundRequested.EVENT_TYPE)
    try:
        async with ServiceProcess(
            "services.sms_worker", _environment(broker_settings, mongodb_url, mongo_db_name)
        ) as worker:
            publisher = await Publisher.open(broker, broker_settings)
            hello = new_event(
                SmsInboundReceived(
                    message_sid="SMprocess0001",
                    from_number="+14155550123",
                    to_number="+18005550199",
                    body="hi",
                    received_at=START,
                ),
                idempotency_key="twilio:SMprocess0001",
            )
            await publisher.publish(hello)
            await publisher.close()
            message = await eventually(lambda: tap.get(no_ack=True, fail=False), timeout=20)
            request = EVENTS.decode(message.body)
            assert isinstance(request.payload, SmsOutboundRequested)
            assert (request.payload.to_number, request.payload.kind) == (
                "+14155550123",
                "onboarding",
            )
            assert request.causation_id == str(hello.id)
            output = await worker.stop()
    finally:
        await tap.channel.close()
    assert worker.returncode == 0, output.decode(errors="replace")
    assert b"worker stopped" in output
    assert b"+14155550123" not in output  # phone numbers never reach the log


async def test_invalid_setting_stops_start_up_naming_the_variable(
    broker_settings: BrokerSettings, mongodb_url: str, mongo_db_name: str
) -> None:
    env = {
        **_environment(broker_settings, mongodb_url, mongo_db_name),
        "SMS_DEFAULT_TIMEZONE": "Mars/Olympus_Mons",
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.sms_worker",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(worker.communicate(), 30)
    assert worker.returncode == 2
    assert b"SMS_DEFAULT_TIMEZONE" in output
