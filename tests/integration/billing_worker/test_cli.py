"""`givecare billing` in direct mode, as real processes with the billing worker's environment,
against the fake Stripe API: `reconcile` recovers missed webhooks exactly once, `checkout-link`
creates the Checkout Session the worker can link. (Remote mode, through the admin API and a
billing worker process: tests/integration/admin/test_cli_billing.py.)"""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest

from services.devtools.stripe_events import (
    checkout_session_object,
    event_object,
    invoice_object,
    subscription_object,
)
from shared.config import BrokerSettings
from shared.events import deterministic_event_id
from tests.fakes.stripe_api import FakeStripeServer
from tests.integration.billing_worker.conftest import BillingHarness, stripe_envelope
from tests.support.cli import givecare

pytestmark = pytest.mark.integration

PHONE = "+15555550142"
API_KEY = "sk_test_givecare"


async def _command(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """`givecare billing <args>` in direct mode (no API URL in its environment)."""
    environment = {**os.environ, **env}
    environment.pop("GIVECARE_API_URL", None)
    result = await givecare("billing", *args, env=environment, timeout=60)
    return result.code, result.stdout, result.stderr


def _stripe_env(server: FakeStripeServer) -> dict[str, str]:
    return {
        "STRIPE_API_KEY": API_KEY,
        "STRIPE_API_BASE_URL": server.base_url,
        "BILLING_STRIPE_MAX_NETWORK_RETRIES": "0",
        "LOG_FORMAT": "json",
    }


async def test_reconcile_feeds_the_two_missed_events_once(
    billing: BillingHarness,
    fake_stripe: FakeStripeServer,
    broker_settings: BrokerSettings,
    mongodb_url: str,
    mongo_db_name: str,
) -> None:
    now = billing.clock.now()
    period_end = now + timedelta(days=30)
    received = [
        event_object(
            "evt_checkout",
            "checkout.session.completed",
            now - timedelta(hours=5),
            checkout_session_object("cus_r", "sub_r", phone=PHONE),
        ),
        event_object(
            "evt_paid",
            "invoice.paid",
            now - timedelta(hours=4),
            invoice_object("in_r1", "cus_r", "sub_r"),
        ),
    ]
    missed = [
        event_object(
            "evt_sub_created",
            "customer.subscription.created",
            now - timedelta(hours=6),
            subscription_object("sub_r", "cus_r", "active", current_period_end=period_end),
        ),
        event_object(
            "evt_failed",
            "invoice.payment_failed",
            now - timedelta(hours=3),
            invoice_object("in_r2", "cus_r", "sub_r"),
        ),
    ]
    too_old = event_object(
        "evt_old", "invoice.paid", now - timedelta(days=4), invoice_object("in_0", "cus_r", "sub_r")
    )
    for stripe_event in [*received, *missed, too_old]:
        fake_stripe.stripe.add_event(stripe_event)
    await billing.deliver(*(stripe_envelope(e) for e in received))

    env = {
        **_stripe_env(fake_stripe),
        "RABBITMQ_URL": broker_settings.url.get_secret_value(),
        "RABBITMQ_EXCHANGE": broker_settings.exchange,
        "RABBITMQ_QUEUE_PREFIX": broker_settings.queue_prefix,
        "MONGODB_URL": mongodb_url,
        "MONGODB_DB_BILLING_WORKER": mongo_db_name,
        "OPS_STARTUP_WAIT_SECONDS": "5",
    }
    code, out, err = await _command(env, "reconcile", "--since", "3d")
    assert code == 0, err
    assert json.loads(out) == {"listed": 4, "already_received": 2, "fed": 2}
    await billing.settle(len(received) + len(missed))

    code, out, err = await _command(env, "reconcile", "--since", "3d")
    assert code == 0, err
    assert json.loads(out) == {"listed": 4, "already_received": 4, "fed": 0}

    lists = fake_stripe.stripe.calls_to("GET", "/v1/events")
    assert lists
    assert all(call.api_key == API_KEY for call in lists)
    since = int(lists[0].params["created"]["gte"])
    assert abs(since - (now - timedelta(days=3)).timestamp()) < 300
    account = await billing.account(PHONE)
    assert (account.status, account.has_access) == ("active", True)
    assert await billing.access_published() == [True]
    requests = await billing.sms_published()
    assert sorted(r.idempotency_key for r in requests) == [
        "billing:payment-failed:in_r2",
        f"billing:welcome:{PHONE}",
    ]
    for stripe_event in missed:
        assert await billing.event_status(stripe_event["id"]) == "applied"
        doc = await billing.db.billing_events.find_one({"_id": stripe_event["id"]})
        assert doc is not None
        # The very envelope ingress would have published, so inboxes treat both as one.
        expected = deterministic_event_id(
            f"billing.stripe.{stripe_event['type']}", f"stripe:{stripe_event['id']}"
        )
        assert doc["envelope_id"] == str(expected)


async def test_reconcile_refuses_a_window_stripe_does_not_keep() -> None:
    code, _, err = await _command({}, "reconcile", "--since", "45d")
    assert code == 2
    assert "at most 30 days" in err


async def test_checkout_link_creates_a_session_the_worker_can_link(
    fake_stripe: FakeStripeServer,
) -> None:
    env = {
        **_stripe_env(fake_stripe),
        "BILLING_PRICE_MONTHLY": "price_month",
        "BILLING_PRICE_ANNUAL": "price_year",
    }
    code, out, err = await _command(
        env, "checkout-link", "--phone", "(555) 555-0142", "--plan", "annual", "--user-id", "u-42"
    )
    assert code == 0, err
    session = fake_stripe.stripe.checkout_sessions[-1]
    assert json.loads(out) == {"session_id": session["id"], "url": session["url"]}
    [call] = fake_stripe.stripe.calls_to("POST", "/v1/checkout/sessions")
    metadata = {"phone": PHONE, "user_id": "u-42"}
    assert call.params["mode"] == "subscription"
    assert call.params["line_items"] == [{"price": "price_year", "quantity": "1"}]
    assert call.params["allow_promotion_codes"] == "true"
    assert call.params["metadata"] == metadata
    assert call.params["subscription_data"] == {"metadata": metadata}
    assert call.params["client_reference_id"] == "u-42"
    assert call.api_key == API_KEY


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--phone", "not a number"], {}, "does not parse as a phone number"),
        (["--phone", PHONE], {"BILLING_PRICE_MONTHLY": ""}, "BILLING_PRICE_MONTHLY is not set"),
        (["--phone", PHONE], {"STRIPE_API_KEY": ""}, "STRIPE_API_KEY"),
    ],
    ids=["bad-phone", "no-price", "no-api-key"],
)
async def test_checkout_link_explains_what_is_missing(
    fake_stripe: FakeStripeServer, args: list[str], env: dict[str, str], message: str
) -> None:
    base = {**_stripe_env(fake_stripe), "BILLING_PRICE_MONTHLY": "price_month"}
    code, _, err = await _command({**base, **env}, "checkout-link", *args)
    assert code == 2
    assert message in err
    assert fake_stripe.stripe.calls_to("POST", "/v1/checkout/sessions") == []
