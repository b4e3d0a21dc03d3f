"""`operators`: the fake and the server agree — one operator per phone (the first kept), a role
granted or revoked only when that changes something, and the holders of a role counted."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

import pytest

from services.admin.records import Operator, Role
from services.admin.store import admin_indexes
from services.admin.unit_of_work import AdminWork, admin_work
from shared.clock import SystemClock
from shared.mongo import Database, ensure_indexes
from shared.outbox import OUTBOX_COLLECTION, Outbox
from shared.unit_of_work import Transactions
from tests.fakes.admin import FakeAdminWork

pytestmark = pytest.mark.integration

_T = TypeVar("_T")
NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)
ANA = Operator(id="op-ana", phone="+15555550100", roles=frozenset(), created_at=NOW, updated_at=NOW)


class AdminWorkIn(Protocol):
    """Runs `body` in one unit of work and returns what it returned."""

    async def __call__(self, body: Callable[[AdminWork], Awaitable[_T]]) -> _T: ...


class _MongoWork:
    """Each body in its own transaction on a database with the admin's indexes."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._transactions = Transactions(
            db.client, Outbox(db[OUTBOX_COLLECTION], SystemClock()), admin_work(db)
        )
        self._indexed = False

    async def __call__(self, body: Callable[[AdminWork], Awaitable[_T]]) -> _T:
        if not self._indexed:
            indexes = admin_indexes(failed_auth_window_seconds=60, outbox_retention_days=1)
            await ensure_indexes(self._db, indexes)
            self._indexed = True
        return await self._transactions.run(body)


@pytest.fixture(params=["fake", "mongo"])
def admin_work_in(request: pytest.FixtureRequest) -> AdminWorkIn:
    """The unit of work a contract test runs against: the fake, then the real server."""
    if request.param == "fake":
        return FakeAdminWork().run
    return _MongoWork(request.getfixturevalue("db"))


async def test_one_operator_per_phone_the_first_kept(admin_work_in: AdminWorkIn) -> None:
    assert await admin_work_in(lambda uow: uow.operators.by_phone(ANA.phone)) is None
    assert await admin_work_in(lambda uow: uow.operators.add(ANA)) == ANA
    other = dataclasses.replace(ANA, id="op-other", created_at=LATER, updated_at=LATER)
    assert await admin_work_in(lambda uow: uow.operators.add(other)) == ANA
    assert await admin_work_in(lambda uow: uow.operators.get(ANA.id)) == ANA
    assert await admin_work_in(lambda uow: uow.operators.get(other.id)) is None
    assert await admin_work_in(lambda uow: uow.operators.by_phone(ANA.phone)) == ANA


async def test_roles_change_only_when_that_changes_something(admin_work_in: AdminWorkIn) -> None:
    await admin_work_in(lambda uow: uow.operators.add(ANA))
    assert await admin_work_in(lambda uow: uow.operators.grant(ANA.id, Role.SUPPORT, LATER))
    assert not await admin_work_in(lambda uow: uow.operators.grant(ANA.id, Role.SUPPORT, LATER))
    assert await admin_work_in(lambda uow: uow.operators.grant(ANA.id, Role.ADMIN, LATER))
    assert await admin_work_in(lambda uow: uow.operators.get(ANA.id)) == dataclasses.replace(
        ANA, roles=frozenset({Role.ADMIN, Role.SUPPORT}), updated_at=LATER
    )
    assert await admin_work_in(lambda uow: uow.operators.revoke(ANA.id, Role.ADMIN, LATER))
    assert not await admin_work_in(lambda uow: uow.operators.revoke(ANA.id, Role.ADMIN, LATER))
    assert not await admin_work_in(lambda uow: uow.operators.grant("nobody", Role.ADMIN, LATER))
    stored = await admin_work_in(lambda uow: uow.operators.get(ANA.id))
    assert stored is not None
    assert stored.roles == {Role.SUPPORT}


async def test_holders_of_a_role_are_counted_up_to_a_limit(admin_work_in: AdminWorkIn) -> None:
    async def add(n: int, uow: AdminWork) -> None:
        operator = await uow.operators.add(
            dataclasses.replace(ANA, id=f"op-{n}", phone=f"+1555555020{n}")
        )
        if n < 2:
            await uow.operators.grant(operator.id, Role.ADMIN, NOW)

    for n in range(3):
        await admin_work_in(functools.partial(add, n))
    assert await admin_work_in(lambda uow: uow.operators.holders(Role.ADMIN, 5)) == 2
    assert await admin_work_in(lambda uow: uow.operators.holders(Role.ADMIN, 1)) == 1
    assert await admin_work_in(lambda uow: uow.operators.holders(Role.SUPPORT, 5)) == 0
