"""The product's migrations against a real database, driven through the operator's command line
as separate processes: generated legacy data → 001/002 → verify → 003/004 cleanups → verify;
SIGKILL mid-backfill and resume; two runners at once; the live system's newer data kept."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from services.migrations import message_parts, split_users
from services.migrations.fixtures import generate
from shared.events.catalog import EVENTS
from shared.local_servers import LocalMongo
from shared.mongo import Database, MongoClient
from tests.support.cli import givecare
from tests.support.servers import Infra
from tests.support.waiting import sigkill_when

pytestmark = pytest.mark.integration

# 2,000 legacy users in `make test`; `make soak` runs the acceptance size, 20,000
# (MIGRATION_TEST_USERS), which takes about seven minutes on two cores.
FULL_RUN_USERS = int(os.environ.get("MIGRATION_TEST_USERS", "2000"))


@dataclass(frozen=True)
class Deployment:
    """One isolated set of databases, and the environment that points the CLI at them."""

    env: Mapping[str, str]
    legacy: Database
    sms: Database
    billing: Database
    state: Database
    admin: Database

    async def cli(self, *argv: str, **extra_env: str) -> tuple[int, str, str]:
        result = await givecare("migrations", *argv, env={**self.env, **extra_env})
        return result.code, result.stdout, result.stderr

    async def cli_json(self, *argv: str) -> dict[str, Any]:
        code, out, err = await self.cli(*argv)
        assert code in (0, 1), err
        report: dict[str, Any] = json.loads(out)
        return report

    async def record(self, migration_id: str) -> dict[str, Any]:
        return await self.state.migrations.find_one({"_id": migration_id}) or {}


@pytest.fixture
async def deployment(
    mongo_client: MongoClient, mongodb_url: str, mongodb_server: Infra[LocalMongo]
) -> AsyncIterator[Deployment]:
    prefix = f"mig{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "MONGODB_URL": mongodb_url,
        "MONGODB_DB_PREFIX": prefix,
        "MIGRATIONS_LEGACY_DB": f"{prefix}_legacy",
        "MIGRATIONS_STATE_DB": f"{prefix}_migrations",
        "LOG_FORMAT": "json",
    }
    names = ("legacy", "sms_worker", "billing_worker", "migrations", "admin")
    yield Deployment(env, *(mongo_client[f"{prefix}_{name}"] for name in names))
    # Tens of thousands of rows: SecantusDB's dropDatabase would hold its global lock for minutes
    # and stall later tests, and its data directory goes with the session; others are cleaned.
    if mongodb_server.local is None:
        for name in names:
            await mongo_client.drop_database(f"{prefix}_{name}")


# 20,000 users through four migrations and their verifies: minutes on a busy 2-core machine.
@pytest.mark.timeout(1200)
async def test_twenty_thousand_legacy_users_migrate_verify_and_clean_up(
    deployment: Deployment,
) -> None:
    generated = await generate(deployment.legacy, users=FULL_RUN_USERS, messages_per_user=1)
    assert generated.odd_users > 0

    code, _, err = await deployment.cli("run", split_users.CLEANUP_ID)
    assert code == 4  # the cleanup refuses to run before its backfill has verified
    assert split_users.ID in err

    for backfill in (split_users.ID, message_parts.ID):
        code, out, err = await deployment.cli("run", backfill, "--batch-size", "1000")
        assert code == 0, err
        assert "doc/s" in err  # the progress bar, with its rate
        summary = json.loads(out)
        assert summary["status"] == "completed"
        assert summary["failed"] > 0  # odd documents were reported, and the run went on
        verify = await deployment.cli_json("verify", backfill)
        assert verify["ok"] is True, verify

    users = await deployment.record(split_users.ID)
    assert users["checkpoint"]["processed"] == FULL_RUN_USERS
    reasons = " ".join(sample["error"] for sample in users["error_samples"])
    assert "no usable phone" in reasons or "code 11000" in reasons
    migrated = users["checkpoint"]["succeeded"]
    assert await deployment.sms.users.count_documents({}) == migrated
    assert await deployment.sms.user_profiles.count_documents({}) == migrated
    assert await deployment.sms.conversation_state.count_documents({}) == migrated
    assert len(await deployment.sms.users.distinct("phone")) == migrated
    # Every migrated user is announced to the services that keep read models.
    profile_events = await deployment.sms.outbox.count_documents({"type": "user.profile.changed"})
    assert profile_events == migrated
    accounts = await deployment.billing.billing_accounts.count_documents({})
    assert await deployment.billing.outbox.count_documents({}) == accounts
    # Roles moved to the admin's operators, never onto the SMS worker's users.
    verified = await deployment.cli_json("verify", split_users.ID)
    assert await deployment.admin.operators.count_documents({}) == verified["with_roles"]
    assert await deployment.sms.users.count_documents({"roles": {"$exists": True}}) == 0

    for cleanup, source, fields in (
        (split_users.CLEANUP_ID, deployment.legacy.users, split_users.MOVED_FIELDS),
        (message_parts.CLEANUP_ID, deployment.legacy.messages, message_parts.ARRAYS),
    ):
        code, _, err = await deployment.cli("run", cleanup)
        assert code == 0, err
        assert (await deployment.cli_json("verify", cleanup))["ok"] is True
        moved_left = {"$or": [{field: {"$exists": True}} for field in fields]}
        migrated_mark = {"$exists": True}
        mark = split_users.SOURCE_MARK if source.name == "users" else message_parts.SOURCE_MARK
        assert await source.count_documents({mark: migrated_mark, **moved_left}) == 0
    # What had no new home is still on the legacy documents; so is everything unmigrated.
    assert await deployment.legacy.users.count_documents({"utmSource": {"$exists": True}}) == (
        FULL_RUN_USERS
    )
    unmigrated = await deployment.legacy.users.count_documents(
        {split_users.SOURCE_MARK: {"$exists": False}}
    )
    assert unmigrated == users["checkpoint"]["failed"]
    # 001's verify still holds after the cleanup emptied what it compared.
    assert (await deployment.cli_json("verify", split_users.ID))["ok"] is True


async def test_sigkill_mid_backfill_then_rerun_completes_without_duplicates(
    deployment: Deployment,
) -> None:
    await generate(deployment.legacy, users=3_000, messages_per_user=0, odd_fraction=0)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli.main",
        "migrations",
        "run",
        split_users.ID,
        "--batch-size",
        "50",
        env={
            **deployment.env,
            "MIGRATIONS_THROTTLE_DOCS_PER_SECOND": "600",
            "MIGRATIONS_LEASE_SECONDS": "1",
        },
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )

    async def midway() -> bool:
        record = await deployment.record(split_users.ID)
        processed: int = record.get("checkpoint", {}).get("processed", 0)
        return processed >= 500

    await sigkill_when(process, midway, timeout=120)
    killed = await deployment.record(split_users.ID)
    assert killed["status"] == "running"
    assert 500 <= killed["checkpoint"]["processed"] < 3_000

    await asyncio.sleep(1.1)  # the dead runner's lease runs out
    code, out, err = await deployment.cli("run", split_users.ID, "--batch-size", "500")
    assert code == 0, err
    assert json.loads(out)["status"] == "completed"
    for collection in (deployment.sms.users, deployment.sms.user_profiles):
        assert await collection.count_documents({}) == 3_000
        assert len(await collection.distinct("_id")) == 3_000
    # The batch in flight when the runner died was written twice: still one event per user.
    assert await deployment.sms.outbox.count_documents(
        {}
    ) == 3_000 + await deployment.sms.user_profiles.count_documents({"sms_opt_out": True})
    assert (await deployment.cli_json("verify", split_users.ID))["ok"] is True


async def test_two_runners_at_once_one_works_the_other_names_the_holder(
    deployment: Deployment,
) -> None:
    await generate(deployment.legacy, users=1_500, messages_per_user=0, odd_fraction=0)
    throttled = {"MIGRATIONS_THROTTLE_DOCS_PER_SECOND": "1000"}
    first, second = await asyncio.gather(
        deployment.cli("run", split_users.ID, "--batch-size", "100", **throttled),
        deployment.cli("run", split_users.ID, "--batch-size", "100", **throttled),
    )
    outcomes = sorted([first, second], key=lambda outcome: outcome[0])
    (worked_code, worked_out, _), (refused_code, _, refused_err) = outcomes
    assert worked_code == 0
    assert json.loads(worked_out)["processed"] == 1_500
    assert refused_code == 3
    assert "is held by" in refused_err
    assert await deployment.sms.users.count_documents({}) == 1_500


async def test_the_backfill_never_overwrites_what_the_live_system_wrote_since(
    deployment: Deployment,
) -> None:
    await generate(deployment.legacy, users=50, messages_per_user=0, odd_fraction=0)
    # A second legacy admin besides the generated one.
    await deployment.legacy.users.update_one({"_id": "u00000002"}, {"$set": {"isAdmin": True}})
    live_id = "u00000007"
    now = datetime.now(UTC)
    live_admins = [
        (document["_id"], split_users.legacy_phone(document))
        async for document in deployment.legacy.users.find({"isAdmin": True}).sort("_id", 1)
    ]
    assert len(live_admins) == 2
    await deployment.admin.operators.insert_one(
        {"_id": "op-live", "phone": live_admins[0][1], "roles": [], "created_at": now,
         "updated_at": now}
    )  # fmt: skip
    # The SMS worker already created this user's profile (they texted after cut-over).
    await deployment.sms.user_profiles.insert_one(
        {"_id": live_id, "user_id": live_id, "first_name": "Newer", "version": 4,
         "timezone": "America/Chicago", "updated_at": now, "migrated_at": None}
    )  # fmt: skip
    code, _, err = await deployment.cli("run", split_users.ID)
    assert code == 0, err
    profile = await deployment.sms.user_profiles.find_one({"_id": live_id})
    assert profile is not None
    assert profile["first_name"] == "Newer"
    assert profile["version"] == 4
    # The legacy admin's phone already has an operator whose role the admin took away since.
    (admin_id, admin_phone), (other_id, _) = live_admins
    live_operator = await deployment.admin.operators.find_one({"phone": admin_phone})
    assert live_operator is not None
    assert (live_operator["_id"], live_operator["roles"]) == ("op-live", [])
    other = await deployment.admin.operators.find_one({"_id": other_id})
    assert other is not None
    assert other["roles"] == ["admin"]
    assert admin_id != other_id
    verify = await deployment.cli_json("verify", split_users.ID)
    # Not created by the backfill, so not counted as migrated: verify says so, by count.
    assert verify["user_profiles"] == verify["users"] - 1
    assert verify["mismatches"] == []


async def test_dry_run_writes_nothing_and_rollback_undoes_the_backfill(
    deployment: Deployment,
) -> None:
    await generate(deployment.legacy, users=200, messages_per_user=2)
    dry = await deployment.cli_json("run", split_users.ID, "--dry-run")
    assert dry["would_process"] == 200
    assert dry["sample"][0]["writes"]
    assert "@example.org" not in json.dumps(dry)  # shapes, never values
    assert await deployment.sms.users.count_documents({}) == 0

    for backfill in (split_users.ID, message_parts.ID):
        assert (await deployment.cli("run", backfill))[0] == 0
        code, out, _ = await deployment.cli("rollback", backfill)
        assert code == 0
        assert sum(json.loads(out).values()) > 0
    assert await deployment.sms.users.count_documents({}) == 0
    assert await deployment.admin.operators.count_documents({}) == 0
    assert await deployment.sms.tool_calls.count_documents({}) == 0
    assert (
        await deployment.legacy.users.count_documents({split_users.SOURCE_MARK: {"$exists": True}})
        == 0
    )
    # Run again after the rollback: everything comes back.
    assert (await deployment.cli("run", split_users.ID))[0] == 0
    assert (await deployment.cli_json("verify", split_users.ID))["ok"] is True


async def test_migrated_events_decode_as_the_services_expect(deployment: Deployment) -> None:
    await generate(deployment.legacy, users=100, messages_per_user=0, odd_fraction=0)
    assert (await deployment.cli("run", split_users.ID))[0] == 0
    rows = [row async for row in deployment.sms.outbox.find({})]
    rows += [row async for row in deployment.billing.outbox.find({})]
    types = {EVENTS.decode(row["body"]).type for row in rows}
    assert types >= {"user.profile.changed", "billing.access.changed"}
    assert all(row["status"] == "pending" for row in rows)
