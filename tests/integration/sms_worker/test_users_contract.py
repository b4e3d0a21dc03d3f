"""`users`: the fake and the server agree — one user per phone, the first one kept, and read
with the profile and the rate count in one go (`caregivers`)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.sms_worker.domain.profile import Profile
from services.sms_worker.records import Caregiver, InboundSmsRecord, User
from services.sms_worker.unit_of_work import SmsWork
from tests.integration.sms_worker.conftest import SmsWorkIn

pytestmark = pytest.mark.integration

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
ANA = User(id="u-ana", phone="+14155550100", created_at=AT)


async def test_an_unknown_phone_has_no_user(sms_work_in: SmsWorkIn) -> None:
    assert await sms_work_in(lambda uow: uow.users.by_phone(ANA.phone)) is None


async def test_a_phone_keeps_its_first_user(sms_work_in: SmsWorkIn) -> None:
    assert await sms_work_in(lambda uow: uow.users.add(ANA)) == ANA
    later = User(id="u-other", phone=ANA.phone, created_at=AT.replace(hour=16))
    assert await sms_work_in(lambda uow: uow.users.add(later)) == ANA
    assert await sms_work_in(lambda uow: uow.users.by_phone(ANA.phone)) == ANA


async def test_two_additions_in_one_transaction_make_one_user(sms_work_in: SmsWorkIn) -> None:
    async def twice(uow: SmsWork) -> tuple[User, User]:
        first = await uow.users.add(ANA)
        return first, await uow.users.add(User(id="u-2", phone=ANA.phone, created_at=AT))

    assert await sms_work_in(twice) == (ANA, ANA)
    bob = User(id="u-bob", phone="+14155550101", created_at=AT)
    assert await sms_work_in(lambda uow: uow.users.add(bob)) == bob


async def test_a_caregiver_is_read_with_profile_and_rate_count_in_one_go(
    sms_work_in: SmsWorkIn,
) -> None:
    async def caregiver(uow: SmsWork, phone: str = ANA.phone) -> Caregiver | None:
        return await uow.caregivers.by_phone(
            phone, since=AT - timedelta(days=1), until=AT, excluding="in:SM-now"
        )

    assert await sms_work_in(caregiver) is None
    await sms_work_in(lambda uow: uow.users.add(ANA))
    assert await sms_work_in(caregiver) == Caregiver(ANA, None, 0)

    profile = Profile(user_id=ANA.id, timezone="America/New_York", last_contact_at=AT)
    await sms_work_in(lambda uow: uow.profiles.create(profile, AT))

    def inbound(sid: str, at: datetime, user_id: str = ANA.id, **changes: Any) -> InboundSmsRecord:
        record = InboundSmsRecord(
            id=f"in:{sid}",
            user_id=user_id,
            body="hi",
            provider_sid=sid,
            status="received",
            created_at=at,
            updated_at=at,
        )
        return dataclasses.replace(record, **changes)

    for record in (
        inbound("SM1", AT - timedelta(hours=1)),
        inbound("SM2", AT - timedelta(hours=2)),
        inbound("SM3", AT - timedelta(hours=3), rate_exempt=True),
        inbound("SM4", AT - timedelta(days=2)),  # outside the window
        inbound("SM5", AT - timedelta(hours=1), user_id="u-other"),
        inbound("SM-now", AT),  # the message being handled
    ):

        async def record_inbound(uow: SmsWork, record: InboundSmsRecord = record) -> None:
            await uow.messages.record_inbound(record)

        await sms_work_in(record_inbound)

    found = await sms_work_in(caregiver)
    assert found is not None
    assert (found.user, found.counted_inbound) == (ANA, 2)
    assert found.profile is not None
    assert (found.profile.user_id, found.profile.version) == (ANA.id, 1)
    assert found.profile == await sms_work_in(lambda uow: uow.profiles.get(ANA.id))
