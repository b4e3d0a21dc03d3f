"""`python -m services.billing_worker` as a real process: it becomes ready, turns a Stripe checkout
into a linked account and a welcome SMS request, reconciles on its schedule (a checkout whose
webhook never came, listed by the fake Stripe API, is welcomed too) and reports it on /metrics,
and stops cleanly on SIGTERM."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from aio_pika.abc import AbstractRobustConnection

from services.devtools.stripe_events import checkout_session_object, event_object
from shared.broker import Publisher
from shared.config import BrokerSettings
from shared.mongo import Database
from tests.fakes.stripe_api import FakeStripeServer
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
    fake_stripe: FakeStripeServer,
) -> None:
    env = service_environment(
        broker_settings,
        mongodb_url,
        service="billing_worker",
        database=mongo_db_name,
        SIGNUP_URL="https://signup.givecare.test/",
        STRIPE_API_KEY="sk_test_process",
        STRIPE_API_BASE_URL=fake_stripe.base_url,
        BILLING_RECONCILE_INTERVAL_SECONDS="3600",
    )
    fake_stripe.stripe.add_event(
        event_object(
            "evt_process_missed",
            "checkout.session.completed",
            datetime.now(UTC) - timedelta(minutes=10),
            checkout_session_object("cus_m", "sub_m", phone="+15555550177"),
        )
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
            return len(await sms.drain()) == 2

        await eventually(welcomed)
        metrics = ""

        async def reconciled() -> bool:
            # Counted once the run is recorded, a moment after the event it fed left.
            nonlocal metrics
            metrics = (await worker.http.get("/metrics")).text
            return 'givecare_billing_reconcile_runs_total{outcome="ok"} 1.0' in metrics

        await eventually(reconciled)
        output = await worker.stop()

    assert worker.returncode == 0, output.decode(errors="replace")
    assert sorted(request.idempotency_key for request in sms.events) == [
        "billing:welcome:+15555550166",
        "billing:welcome:+15555550177",
    ]
    assert "givecare_billing_reconcile_interval_seconds 3600.0" in metrics
    assert "givecare_billing_reconcile_events_fed_total 1.0" in metrics
    last_success = re.search(
        r"^givecare_billing_reconcile_last_success_timestamp_seconds (\S+)$", metrics, re.M
    )
    assert last_success is not None
    assert abs(float(last_success.group(1)) - time.time()) < 120
    account = await db.billing_accounts.find_one({"_id": "+15555550166"})
    assert account is not None
    assert account["stripe_customer_id"] == "cus_p"
    indexes = await db.billing_accounts.index_information()
    assert "customer_unique" in indexes
    assert b"5555550166" not in output  # the phone never reaches the logs
