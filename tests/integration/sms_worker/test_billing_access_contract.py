"""`billing_access`: the fake and the server agree — kept by phone, the newest change wins
(an equally recent one too: a redelivered change is the same change)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from services.sms_worker.records import BillingAccess
from tests.integration.sms_worker.conftest import SmsWorkIn

pytestmark = pytest.mark.integration

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
ACCESS = BillingAccess(
    phone="+14155550100",
    user_id=None,
    has_access=True,
    status="active",
    current_period_end=AT + timedelta(days=30),
    changed_at=AT,
    updated_at=AT,
)


async def test_the_newest_change_wins(sms_work_in: SmsWorkIn) -> None:
    assert await sms_work_in(lambda uow: uow.billing_access.get(ACCESS.phone)) is None
    assert await sms_work_in(lambda uow: uow.billing_access.apply(ACCESS)) is True
    newer = dataclasses.replace(
        ACCESS, user_id="u1", has_access=False, status="past_due", changed_at=AT + timedelta(1)
    )
    assert await sms_work_in(lambda uow: uow.billing_access.apply(newer)) is True
    assert await sms_work_in(lambda uow: uow.billing_access.apply(ACCESS)) is False
    assert await sms_work_in(lambda uow: uow.billing_access.apply(newer)) is True
    assert await sms_work_in(lambda uow: uow.billing_access.get(ACCESS.phone)) == newer
