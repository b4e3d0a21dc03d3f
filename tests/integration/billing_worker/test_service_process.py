"""`python -m services.billing_worker` as a real process: it becomes ready, turns a Stripe checkout
into a linked account and a welcome SMS request, and stops cleanly on SIGTERM."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aio_pika.abc import AbstractRobustConnection

from services.devtools.stripe_events import checkout_session_object, event_object
from shared.broker import Publisher
from shared.config import BrokerSettings
from shared.mongo import Database
from tests.integration.billing_worker.conftest import stripe_envelope, tap
from tests.support.processes import ServiceProcess, service_environment
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def test_worker_process_links_a_checkout_and_requests_the_welcome(
    broker: AbstractRobustConnection,
    broker_settings: BrokerSettings,
    mongodb_url: str,
    mongo_db_name: str,
    db: Database,
) -> None:
    env = service_environment(
        broker_settings,
        mongodb_url,
        service="billing_worker",
        database=mongo_db_name,
        SIGNUP_URL="https://signup.givecare.test/",
    )
    sms = await tap(broker, broker_settings.exchange, "sms.outbound.requested")
    async with ServiceProcess("services.billing_worker", env) as worker:
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
        output = await worker.stop()

    assert worker.returncode == 0, output.decode(errors="replace")
    [request] = sms.events
    assert request.idempotency_key == "billing:welcome:+15555550166"
    account = await db.billing_accounts.find_one({"_id": "+15555550166"})
    assert account is not None
    assert account["stripe_customer_id"] == "cus_p"
    indexes = await db.billing_accounts.index_information()
    assert "customer_unique" in indexes
    assert b"5555550166" not in output  # the phone never reaches the logs
