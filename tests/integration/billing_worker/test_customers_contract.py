"""The customers repository's contract, on the fake and on the real server alike: a link is made
once and names one caregiver, and a customer seen before its link is linked as new."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.billing_worker.records import CustomerAlreadyLinked, CustomerLink
from tests.integration.billing_worker.conftest import BillingRepositories

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PHONE = "+15555550123"


async def test_a_customer_is_linked_once_and_to_one_caregiver(
    repositories: BillingRepositories,
) -> None:
    customers = repositories.customers
    assert await customers.get("cus_1") is None

    assert await customers.link("cus_1", PHONE, user_id=None, now=NOW)
    # The same caregiver again (a second copy of the checkout): not new, the user id learnt.
    assert not await customers.link("cus_1", PHONE, user_id="u-1", now=NOW)
    assert await customers.get("cus_1") == CustomerLink("cus_1", PHONE, "u-1")

    with pytest.raises(CustomerAlreadyLinked):
        await customers.link("cus_1", "+15555550188", user_id=None, now=NOW)
    assert await customers.get("cus_1") == CustomerLink("cus_1", PHONE, "u-1")


async def test_a_customer_seen_before_its_link_is_linked_as_new(
    repositories: BillingRepositories,
) -> None:
    customers = repositories.customers
    await customers.note_unlinked_event("cus_1", NOW)
    await customers.note_unlinked_event("cus_1", NOW)
    assert await customers.get("cus_1") == CustomerLink("cus_1", None, None)

    assert await customers.link("cus_1", PHONE, user_id="u-1", now=NOW)
    # An event noted after the link leaves the link as it is.
    await customers.note_unlinked_event("cus_1", NOW)
    assert await customers.get("cus_1") == CustomerLink("cus_1", PHONE, "u-1")
