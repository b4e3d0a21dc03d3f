"""`users`: the fake and the server agree — one user per phone, the first one kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.sms_worker.records import User
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
