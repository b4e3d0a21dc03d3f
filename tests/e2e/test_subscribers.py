"""The system with the subscription gate on, and the scheduler's clock three days ahead: a
caregiver without a subscription is asked to subscribe, is let in once Stripe says they paid,
hears once about a failed payment; a subscribed caregiver who asked for DAILY check-ins gets one
from the scheduler — now, because the scheduler's (development) clock says it is days later."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.billing_worker.domain import messages as billing_texts
from services.devtools.stripe_events import BillingEventType, caregiver_event
from services.sms_worker.domain import replies
from services.sms_worker.domain.keywords import Command
from services.sms_worker.domain.proactive import compose
from tests.support.system import REPLY_TIMEOUT, System
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

SUBSCRIBER = "+15555550201"
CHECKIN = "+15555550202"
STRIPE_CLI = "+15555550203"
SIGNUP_URL = "https://givecare.test/join"
BILLING_URL = "https://givecare.test/billing"
NEW_YORK = ZoneInfo("America/New_York")  # ZIP 10001, where the caregivers here live


@pytest.fixture(scope="module")
def module_environment() -> dict[str, str]:
    # Noon in New York, three days from now: inside the sending window, and past the two days of
    # quiet a DAILY check-in waits for after the caregiver's last message.
    local_today = datetime.now(NEW_YORK).date()
    clock_start = datetime.combine(local_today + timedelta(days=3), time(12), NEW_YORK)
    return {
        "SUBSCRIPTIONS_ENABLED": "true",
        "SIGNUP_URL": SIGNUP_URL,
        "BILLING_URL": BILLING_URL,
        "SCHEDULER_DEV_CLOCK_START": clock_start.isoformat(),
    }


async def _let_in(system: System, phone: str) -> None:
    """Access travels to the SMS worker as its own event; wait until it has arrived there."""
    access = system.db("sms_worker").billing_access

    async def granted() -> bool:
        row = await access.find_one({"_id": phone})
        return row is not None and row["has_access"] is True

    await eventually(granted, timeout=REPLY_TIMEOUT)


async def test_a_caregiver_subscribes_and_hears_once_about_a_failed_payment(
    system: System,
) -> None:
    caregiver = system.caregiver(SUBSCRIBER)
    gate = replies.subscription_gate(None, signup_url=SIGNUP_URL, billing_url=BILLING_URL)
    assert await caregiver.says("hi") == [gate]

    assert await caregiver.subscribe() == [billing_texts.WELCOME]
    await _let_in(system, SUBSCRIBER)
    assert await caregiver.says("hi") == [replies.WELCOME]

    # A second checkout (another tab, another session) does not welcome them again.
    second_checkout = caregiver_event(BillingEventType.CHECKOUT_COMPLETED, SUBSCRIBER)
    assert await system.send_stripe(second_checkout) == []

    notice = billing_texts.payment_failed_text(billing_texts.signup_link(SIGNUP_URL, SUBSCRIBER))
    failed = BillingEventType.INVOICE_PAYMENT_FAILED
    invoice = "in_e2e_0001"
    assert await system.send_stripe(caregiver_event(failed, SUBSCRIBER, invoice_id=invoice)) == [
        notice
    ]
    # Stripe retries the charge and fails again: still one notice for that invoice.
    assert await system.send_stripe(caregiver_event(failed, SUBSCRIBER, invoice_id=invoice)) == []
    assert caregiver.inbox() == [gate, billing_texts.WELCOME, replies.WELCOME, notice]


async def test_a_daily_checkin_comes_when_the_scheduler_clock_says_it_is_due(
    system: System,
) -> None:
    caregiver = system.caregiver(CHECKIN)
    assert await caregiver.subscribe() == [billing_texts.WELCOME]
    await _let_in(system, CHECKIN)
    await caregiver.onboard(first_name="Cleo", zip_code="10001")
    assert await caregiver.says("DAILY") == [replies.CHECKIN_REPLIES[Command.CHECKIN_DAILY]]

    checkin = compose("checkin", 0, "Cleo")

    async def checked_in() -> bool:
        return checkin in caregiver.inbox()

    await eventually(checked_in, timeout=REPLY_TIMEOUT)
    outbound = system.db("sms_sender").outbound_messages
    proactive = await outbound.find({"to_number": CHECKIN, "kind": "proactive"}).to_list()
    assert [row["body"] for row in proactive] == [checkin]
    assert caregiver.inbox()[-1] == checkin


async def test_the_stripe_command_sends_a_signed_event_that_billing_acts_on(
    system: System,
) -> None:
    caregiver = system.caregiver(STRIPE_CLI)
    code, out, errors = await system.givecare(
        "stripe", "send", "checkout.session.completed", "--phone", "(555) 555-0203"
    )
    assert code == 0, errors
    assert out.startswith("checkout.session.completed evt_dev_")

    async def welcomed() -> bool:
        return caregiver.inbox() == [billing_texts.WELCOME]

    await eventually(welcomed, timeout=REPLY_TIMEOUT)
