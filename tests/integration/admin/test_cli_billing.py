"""`givecare billing` in remote mode: the operator's machine holds no Stripe key, no database and
no broker; the admin API (a real ingress process) hands the request to the billing worker (a
real `python -m services.billing_worker` process, the one holder of the Stripe key, here the
fake Stripe API's), and the command waits for what billing made of it. A request made while no
billing worker runs is answered later; what retrying cannot fix comes back as `failed`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from services.admin.store import AUDIT_LOG
from services.devtools.stripe_events import checkout_session_object, event_object
from services.sms_worker.storage import USERS
from tests.fakes.stripe_api import FakeStripeServer
from tests.integration.admin.conftest import (
    ADMIN_PHONE,
    BOOTSTRAP_TOKEN,
    SUPPORT_PHONE,
    Remote,
)
from tests.support.processes import ServiceProcess, service_environment

pytestmark = pytest.mark.integration

CAREGIVER = "+15555550142"


@pytest.fixture
async def fake_stripe() -> AsyncIterator[FakeStripeServer]:
    async with FakeStripeServer() as server:
        yield server


def _billing_worker(remote: Remote, fake_stripe: FakeStripeServer) -> ServiceProcess:
    env = service_environment(
        remote.broker_settings,
        remote.mongodb_url,
        service="billing_worker",
        database=remote.databases["MONGODB_DB_BILLING_WORKER"],
        STRIPE_API_KEY="sk_test_remote_cli",
        STRIPE_API_BASE_URL=fake_stripe.base_url,
        BILLING_STRIPE_MAX_NETWORK_RETRIES="0",
        BILLING_RECONCILE_INTERVAL_SECONDS="0",
        BILLING_PRICE_ANNUAL="price_year",
        BILLING_PRICE_MONTHLY="",
    )
    return ServiceProcess("services.billing_worker", env, ready_timeout=60)


async def test_reconcile_and_checkout_links_are_asked_of_billing_through_the_api(
    remote: Remote, fake_stripe: FakeStripeServer
) -> None:
    first = await remote.cli("admin", "create-first", "--phone", ADMIN_PHONE, token=BOOTSTRAP_TOKEN)
    boss = first.json()["token"]
    operator_id = (await remote.cli("whoami", token=boss)).json()["operator_id"]
    fake_stripe.stripe.add_event(
        event_object(
            "evt_missed_checkout",
            "checkout.session.completed",
            datetime.now(UTC) - timedelta(hours=2),
            checkout_session_object("cus_remote", "sub_remote", phone=CAREGIVER),
        )
    )

    # Asked while no billing worker runs: the request waits in billing's queue.
    pending = await remote.cli("billing", "reconcile", "--since", "1d", "--wait", "0", token=boss)
    assert pending.code == 7, pending.stderr
    asked = pending.json()
    assert (asked["kind"], asked["status"], asked["requested_by"]) == (
        "reconcile",
        "requested",
        operator_id,
    )
    still = await remote.cli("billing", "request", asked["request_id"], token=boss)
    assert (still.code, still.json()["status"]) == (7, "requested")

    async with _billing_worker(remote, fake_stripe):
        done = await remote.cli(
            "billing", "request", asked["request_id"], "--wait", "60", token=boss
        )
        assert done.code == 0, done.stderr
        assert done.json()["status"] == "done"
        assert done.json()["reconcile"] == {"listed": 1, "already_received": 0, "fed": 1}

        await remote.sms_db[USERS].insert_one(
            {"_id": "u42", "phone": CAREGIVER, "created_at": datetime.now(UTC)}
        )
        linked = await remote.cli(
            "billing", "checkout-link", "--phone", CAREGIVER, "--plan", "annual", token=boss
        )
        assert linked.code == 0, linked.stderr
        session = fake_stripe.stripe.checkout_sessions[-1]
        assert linked.json()["checkout_link"] == {
            "session_id": session["id"],
            "url": session["url"],
        }
        [call] = fake_stripe.stripe.calls_to("POST", "/v1/checkout/sessions")
        assert call.params["metadata"] == {"phone": CAREGIVER, "user_id": "u42"}
        assert call.params["line_items"] == [{"price": "price_year", "quantity": "1"}]
        # A redelivered request makes no second session: Stripe dedupes on the request's id.
        assert call.idempotency_key == linked.json()["request_id"]

        priceless = await remote.cli("billing", "checkout-link", "--phone", CAREGIVER, token=boss)
        assert priceless.code == 1, priceless.stderr
        assert (priceless.json()["status"], priceless.json()["error"]) == (
            "failed",
            "BILLING_PRICE_MONTHLY is not set",
        )

    # Refused before anything is asked of billing.
    with_id = await remote.cli(
        "billing", "checkout-link", "--phone", CAREGIVER, "--user-id", "u42", token=boss
    )
    assert with_id.code == 2
    await remote.cli("roles", "grant", SUPPORT_PHONE, "support", token=boss)
    helper = (
        await remote.cli("admin", "token", "create", "--user", SUPPORT_PHONE, token=boss)
    ).json()["token"]
    forbidden = await remote.cli("billing", "reconcile", token=helper)
    assert (forbidden.code, forbidden.error()["error"]) == (6, "forbidden")
    unknown = await remote.cli("billing", "request", "no-such-request", token=boss)
    assert unknown.code == 3

    audit = [row async for row in remote.admin_db[AUDIT_LOG].find().sort("_id", 1)]
    requests = [
        (r["action"], r["actor"]["kind"]) for r in audit if r["action"].startswith("billing")
    ]
    assert requests == [
        ("billing.reconcile", "token"),
        ("billing.checkout_link", "token"),
        ("billing.checkout_link", "token"),
    ]
    assert CAREGIVER not in repr([row["details"] for row in audit])
