"""The owning services' bulk import methods a data migration writes through, against a real
server: one unordered write, created only when absent (a replay changes nothing), a refused
unique value reported by position with code 11000, provenance that verify counts and rollback
deletes, and the live system's rows left alone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.admin.records import Operator, Role
from services.admin.store import MongoOperators, operator_indexes
from services.billing_worker.records import CustomerLink, ImportedAccount
from services.billing_worker.store import BILLING_INDEXES, MongoAccounts, MongoCustomers
from services.billing_worker.views import BillingViews
from services.sms_worker.records import User
from services.sms_worker.storage import MongoUsers, sms_worker_indexes
from services.sms_worker.views import MigratedRows, SmsWorkerMigrated
from shared.events import new_event
from shared.events.catalog import SmsOptOutChanged
from shared.mongo import BulkFailure, Database, Provenance, ensure_indexes
from shared.outbox import OUTBOX_COLLECTION, add_imported

pytestmark = pytest.mark.integration

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
PROVENANCE = Provenance("legacy.test", NOW)


def _user(n: int, phone: str | None = None) -> User:
    return User(id=f"u{n}", phone=phone or f"+1415555{n:04d}", created_at=AT)


async def test_users_are_created_once_and_a_taken_phone_is_a_reported_failure(
    db: Database,
) -> None:
    await ensure_indexes(db, sms_worker_indexes())
    users = MongoUsers(db)
    live = await users.add(User(id="live", phone="+14155550002", created_at=AT))
    batch = [_user(1), _user(2), _user(3)]
    assert await users.insert_migrated(batch, PROVENANCE) == [BulkFailure(index=1, code=11000)]
    # A replay: the rows already there are done, the taken phone still refused.
    assert await users.insert_migrated(batch, PROVENANCE) == [BulkFailure(index=1, code=11000)]
    assert await users.by_phone(live.phone) == live
    migrated = SmsWorkerMigrated(db)
    assert await migrated.count(MigratedRows.USERS, PROVENANCE.source) == 2
    row = await migrated.row(MigratedRows.USERS, "u1")
    assert row is not None
    assert (row["migrated_from"], row["phone"]) == (PROVENANCE.source, "+14155550001")
    assert await users.delete_migrated(PROVENANCE.source) == 2
    assert await users.by_phone(live.phone) == live


async def test_operators_keep_the_live_roles_of_a_known_phone(db: Database) -> None:
    await ensure_indexes(db, operator_indexes())
    operators = MongoOperators(db)
    live = Operator(id="op-live", phone="+14155550001", roles=frozenset(), created_at=AT,
                    updated_at=AT)  # fmt: skip
    await operators.add(live)
    imported = [
        Operator(id=f"u{n}", phone=f"+1415555000{n}", roles=frozenset({Role.ADMIN}),
                 created_at=AT, updated_at=NOW)
        for n in (1, 2)
    ]  # fmt: skip
    assert await operators.import_many(imported, PROVENANCE) == []
    assert await operators.import_many(imported, PROVENANCE) == []
    assert await operators.by_phone(live.phone) == live
    assert await operators.migrated_count(PROVENANCE.source) == 1
    assert await operators.unchanged_import(live.phone, PROVENANCE.source) is None
    unchanged = await operators.unchanged_import("+14155550002", PROVENANCE.source)
    assert unchanged is not None
    assert unchanged.roles == {Role.ADMIN}
    assert await operators.delete_migrated(PROVENANCE.source) == 1
    assert await operators.get("op-live") == live


async def test_billing_accounts_and_links_are_created_once(db: Database) -> None:
    await ensure_indexes(db, BILLING_INDEXES)
    accounts, customers = MongoAccounts(db), MongoCustomers(db)

    def account(phone: str, customer: str) -> ImportedAccount:
        return ImportedAccount(
            phone=phone, user_id=f"u-{phone}", customer_id=customer, subscription_id="sub",
            status="active", current_period_end=NOW, cancel_at_period_end=False,
            canceled_at=None, trial_end=None, has_access=True, access_announced=True,
            welcomed_at=AT, created_at=AT,
        )  # fmt: skip

    batch = [account("+14155550001", "cus_a"), account("+14155550002", "cus_a")]
    # Two legacy users with one Stripe customer: the second is refused by `customer_unique`.
    assert await accounts.insert_migrated(batch, PROVENANCE) == [BulkFailure(index=1, code=11000)]
    assert await accounts.insert_migrated(batch[:1], PROVENANCE) == []
    stored = await accounts.get("+14155550001")
    assert stored is not None
    assert (stored.has_access, stored.welcomed, stored.last_event_at) == (True, True, None)
    link = CustomerLink("cus_a", "+14155550001", "u1")
    assert await customers.insert_migrated([link, link], NOW) == []
    assert await customers.get("cus_a") == link
    views = BillingViews(db)
    assert await views.migrated_accounts(PROVENANCE.source) == 1
    assert await accounts.delete_migrated(PROVENANCE.source) == 1


async def test_imported_events_enter_the_outbox_once(db: Database) -> None:
    event = new_event(
        SmsOptOutChanged(phone="+14155550001", opted_out=True, source="migration",
                         user_id="u1", changed_at=AT),
        idempotency_key="001:u1",
        correlation_id="001:u1",
        occurred_at=NOW,
    )  # fmt: skip
    assert await add_imported(db, [event], NOW) == []
    assert await add_imported(db, [event, event], NOW) == []
    rows = [row async for row in db[OUTBOX_COLLECTION].find({})]
    assert [(row["_id"], row["status"]) for row in rows] == [(str(event.id), "pending")]
