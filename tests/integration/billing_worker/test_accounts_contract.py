"""The accounts repository's contract, on the fake and on the real server alike: what `open`
creates, one account per Stripe customer, the version compare-and-set, the marks, the expiry
scan — and that its writes belong to the unit of work they were made in."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.billing_worker.domain.access import SubscriptionState
from services.billing_worker.records import AccountChanged, BillingAccount, CustomerAlreadyLinked
from services.billing_worker.unit_of_work import Accounts, BillingWork
from tests.integration.billing_worker.conftest import BillingRepositories

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PHONE = "+15555550123"
OTHER = "+15555550188"


def active(subscription_id: str = "sub_1", period_end: datetime | None = None) -> SubscriptionState:
    return SubscriptionState(
        subscription_id,
        "cus_1",
        "active",
        current_period_end=period_end or NOW + timedelta(days=30),
    )


async def opened(accounts: Accounts, phone: str = PHONE, **kwargs: str | None) -> BillingAccount:
    await accounts.open(
        phone, user_id=kwargs.get("user_id"), customer_id=kwargs.get("customer_id"), now=NOW
    )
    account = await accounts.get(phone)
    assert account is not None
    return account


async def test_open_creates_an_account_without_access_and_finds_it_by_user(
    repositories: BillingRepositories,
) -> None:
    accounts = repositories.accounts
    assert await accounts.get(PHONE) is None

    account = await opened(accounts, user_id="u-1", customer_id="cus_1")

    assert account == BillingAccount(
        phone=PHONE,
        version=1,
        user_id="u-1",
        subscription_id=None,
        status=None,
        current_period_end=None,
        last_event_at=None,
        has_access=False,
        access_announced=False,
        access_announcements=0,
        welcomed=False,
        payment_notice_invoices=(),
        last_paid_invoice_id=None,
    )
    assert await accounts.by_user_id("u-1") == account
    assert await accounts.by_user_id("u-2") is None
    # Opening again (a second checkout) keeps what it is not told.
    again = await opened(accounts, customer_id="cus_2")
    assert (again.version, again.user_id) == (2, "u-1")


async def test_a_stripe_customer_belongs_to_one_account(
    repositories: BillingRepositories,
) -> None:
    accounts = repositories.accounts
    await opened(accounts, PHONE, customer_id="cus_1")

    with pytest.raises(CustomerAlreadyLinked):
        await accounts.open(OTHER, user_id=None, customer_id="cus_1", now=NOW)
    assert await accounts.get(OTHER) is None

    # Once the first account points at another customer, the old one is free.
    await opened(accounts, PHONE, customer_id="cus_2")
    assert (await opened(accounts, OTHER, customer_id="cus_1")).version == 1


async def test_subscription_changes_are_a_compare_and_set_on_the_version(
    repositories: BillingRepositories,
) -> None:
    accounts = repositories.accounts
    read = await opened(accounts)
    state = active()
    await accounts.apply_subscription(
        read, state, observed_at=NOW, event_id="evt_1", access=True, now=NOW
    )

    account = await accounts.get(PHONE)
    assert account is not None
    assert (account.version, account.subscription_id, account.status) == (2, "sub_1", "active")
    assert (account.current_period_end, account.last_event_at, account.has_access) == (
        state.current_period_end,
        NOW,
        True,
    )
    assert await accounts.by_subscription("sub_1") == account
    assert await accounts.by_subscription("sub_2") is None

    # `read` is a version behind now: neither write lands.
    with pytest.raises(AccountChanged):
        await accounts.apply_subscription(
            read, active("sub_2"), observed_at=NOW, event_id="evt_2", access=True, now=NOW
        )
    with pytest.raises(AccountChanged):
        await accounts.set_access(read, False, now=NOW)
    assert await accounts.get(PHONE) == account

    await accounts.set_access(account, False, now=NOW)
    after = await accounts.get(PHONE)
    assert after is not None
    assert (after.version, after.has_access, after.status) == (3, False, "active")


async def test_a_change_to_an_account_that_is_not_there_is_refused(
    repositories: BillingRepositories,
) -> None:
    ghost = await opened(repositories.accounts, OTHER)
    missing = replace(ghost, phone=PHONE)
    with pytest.raises(AccountChanged):
        await repositories.accounts.set_access(missing, True, now=NOW)
    assert await repositories.accounts.get(PHONE) is None


async def test_announcements_welcome_and_invoices_are_remembered(
    repositories: BillingRepositories,
) -> None:
    accounts = repositories.accounts
    await opened(accounts)
    await accounts.mark_announced(PHONE, True)
    await accounts.mark_announced(PHONE, False)
    await accounts.mark_welcomed(PHONE, NOW)
    await accounts.record_paid_invoice(PHONE, "in_paid", now=NOW)
    for invoice in ("in_1", "in_2", "in_2", "in_3"):
        await accounts.remember_payment_notice(PHONE, invoice, memory=2, now=NOW)

    account = await accounts.get(PHONE)
    assert account is not None
    assert (account.access_announced, account.access_announcements) == (False, 2)
    assert account.welcomed
    assert account.last_paid_invoice_id == "in_paid"
    assert account.payment_notice_invoices == ("in_2", "in_3")
    assert account.version == 1  # none of these is a subscription or access change


async def test_the_expiry_scan_finds_canceled_accounts_past_their_period_with_access(
    repositories: BillingRepositories,
) -> None:
    accounts = repositories.accounts
    cases = {
        "+15555550101": ("canceled", NOW - timedelta(hours=1), True),  # due
        "+15555550102": ("canceled", NOW, True),  # due: the period ends now
        "+15555550103": ("canceled", NOW + timedelta(hours=1), True),  # paid time left
        "+15555550104": ("canceled", NOW - timedelta(hours=1), False),  # already withdrawn
        "+15555550105": ("active", NOW - timedelta(hours=1), True),  # not canceled
    }
    for phone, (status, period_end, access) in cases.items():
        account = await opened(accounts, phone)
        state = SubscriptionState(f"sub_{phone}", None, status, current_period_end=period_end)
        await accounts.apply_subscription(
            account, state, observed_at=NOW, event_id="evt", access=access, now=NOW
        )

    assert sorted(await accounts.access_expired(NOW)) == ["+15555550101", "+15555550102"]
    assert len(await accounts.access_expired(NOW, limit=1)) == 1


async def test_writes_belong_to_the_unit_of_work_they_were_made_in(
    repositories: BillingRepositories,
) -> None:
    class Abandon(Exception):
        pass

    async def open_then_fail(uow: BillingWork) -> None:
        await uow.accounts.open(OTHER, user_id="u-2", customer_id=None, now=NOW)
        raise Abandon

    async def open_and_read(uow: BillingWork) -> BillingAccount | None:
        await uow.accounts.open(PHONE, user_id="u-1", customer_id=None, now=NOW)
        return await uow.accounts.get(PHONE)

    with pytest.raises(Abandon):
        await repositories.run(open_then_fail)
    assert await repositories.accounts.get(OTHER) is None

    seen_inside = await repositories.run(open_and_read)
    assert seen_inside is not None
    assert await repositories.accounts.get(PHONE) == seen_inside
