"""The migration runner against a real database: completion, resumption after SIGKILL, dry
runs, odd documents, competing runners, verify and rollback, and the command line."""

from __future__ import annotations

import asyncio
import math
import os
import sys
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from services.cli.migrations import migrations_cli
from shared.clock import ManualClock, SystemClock
from shared.migrations import LeaseHeld, MigrationRunner, Status
from shared.mongo import Database, MongoClient
from tests.support.sample_migration import PeopleToPersons
from tests.support.waiting import eventually, sigkill_when

pytestmark = pytest.mark.integration


async def _seed(db: Database, count: int) -> None:
    await db.people.insert_many(
        [{"_id": f"p{n:06d}", "firstName": f" name{n} ", "score": n % 100} for n in range(count)]
    )


def _runner(
    mongo_client: MongoClient, db: Database, worker: str = "w1", **kw: float
) -> MigrationRunner:
    return MigrationRunner(mongo_client, db, SystemClock(), worker_id=worker, **kw)


async def test_run_completes_and_a_second_run_is_a_no_op(
    mongo_client: MongoClient, db: Database
) -> None:
    await _seed(db, 1_050)
    migration = PeopleToPersons(db.name)
    record = await _runner(mongo_client, db).run(migration, batch_size=100)
    assert record["status"] == Status.COMPLETED
    assert record["checkpoint"]["processed"] == 1_050
    assert record["checkpoint"]["failed"] == 0
    assert await db.persons.count_documents({}) == 1_050
    assert (await db.persons.find_one({"_id": "p000007"}) or {})["first_name"] == "Name7"
    again = await _runner(mongo_client, db, "w2").run(migration, batch_size=100)
    assert again["checkpoint"]["processed"] == 1_050
    assert (await _runner(mongo_client, db).verify(migration))["ok"] is True


async def test_dry_run_counts_and_samples_without_writing(
    mongo_client: MongoClient, db: Database
) -> None:
    await _seed(db, 30)
    dry = await _runner(mongo_client, db).dry_run(PeopleToPersons(db.name), sample_size=3)
    assert dry.would_process == 30
    assert len(dry.sample) == 3
    write = dry.sample[0]["writes"][0]
    assert write["op"] == "UpdateOne"
    assert write["fields"] == ["$set.first_name", "$set.score"]
    assert "name0" not in str(dry.sample)  # shapes, never values
    assert await db.persons.count_documents({}) == 0
    assert await db.migrations.count_documents({}) == 0


async def test_odd_documents_are_defaulted_or_reported_never_abort(
    mongo_client: MongoClient, db: Database
) -> None:
    await db.people.insert_many(
        [
            {"_id": "a", "firstName": None, "score": "42"},
            {"_id": "b", "score": math.nan},
            {"_id": "c", "firstName": "Ann", "score": ""},
            {"_id": "d", "firstName": "Bo", "score": "not a number"},
            {"_id": "e", "firstName": "Cy", "score": 7},
        ]
    )
    record = await _runner(mongo_client, db).run(PeopleToPersons(db.name), batch_size=2)
    assert record["status"] == Status.COMPLETED
    assert record["checkpoint"]["processed"] == 5
    assert record["checkpoint"]["failed"] == 2
    assert {s["source_id"] for s in record["error_samples"]} == {"b", "d"}
    a = await db.persons.find_one({"_id": "a"})
    assert a == {"_id": "a", "first_name": "Friend", "score": 42.0}


async def test_a_second_runner_is_told_who_holds_the_lease(
    mongo_client: MongoClient, db: Database
) -> None:
    await _seed(db, 2_000)
    migration = PeopleToPersons(db.name)
    # Throttled to take ~10 s, so the second runner surely comes while the first holds the lease.
    slow = _runner(mongo_client, db, "slow-runner", throttle_docs_per_second=200)
    first = asyncio.create_task(slow.run(migration, batch_size=100))

    async def holding() -> bool:
        record = await db.migrations.find_one({"_id": migration.id})
        return bool(record and record.get("lease_holder") == "slow-runner")

    await eventually(holding)
    with pytest.raises(LeaseHeld, match="slow-runner"):
        await _runner(mongo_client, db, "eager-runner").run(migration, batch_size=100)
    record = await first
    assert record["checkpoint"]["processed"] == 2_000
    assert await db.persons.count_documents({}) == 2_000


async def test_an_expired_lease_is_taken_over(mongo_client: MongoClient, db: Database) -> None:
    await _seed(db, 10)
    migration = PeopleToPersons(db.name)
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    await db.migrations.insert_one(
        {
            "_id": migration.id,
            "status": "running",
            "lease_holder": "dead-runner",
            "lease_until": clock.now() + timedelta(seconds=30),
            "checkpoint": {"last_id": None, "processed": 0, "succeeded": 0, "failed": 0},
            "error_samples": [],
        }
    )
    runner = MigrationRunner(mongo_client, db, clock, worker_id="heir", lease_seconds=30)
    with pytest.raises(LeaseHeld):
        await runner.run(migration)
    clock.advance(timedelta(seconds=31))
    assert (await runner.run(migration))["checkpoint"]["processed"] == 10


async def test_sigkill_mid_backfill_then_rerun_completes_without_duplicates(
    mongo_client: MongoClient, db: Database, mongodb_url: str
) -> None:
    await _seed(db, 3_000)
    env = {
        **os.environ,
        "MONGODB_URL": mongodb_url,
        "MIGRATIONS_BATCH_SIZE": "50",
        "MIGRATIONS_THROTTLE_DOCS_PER_SECOND": "1500",
        "MIGRATIONS_LEASE_SECONDS": "1",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.sample_migration", db.name, env=env
    )

    async def midway() -> bool:
        record = await db.migrations.find_one({"_id": PeopleToPersons.id})
        return bool(record and record["checkpoint"]["processed"] >= 500)

    await sigkill_when(process, midway, timeout=60)
    killed_at = await db.migrations.find_one({"_id": PeopleToPersons.id})
    assert killed_at is not None
    assert killed_at["status"] == "running"  # it never got to say otherwise
    assert 500 <= killed_at["checkpoint"]["processed"] < 3_000

    await asyncio.sleep(1.1)  # the dead runner's lease expires
    record = await _runner(mongo_client, db, "second").run(PeopleToPersons(db.name), batch_size=200)
    assert record["status"] == Status.COMPLETED
    assert record["checkpoint"]["processed"] >= 3_000
    assert await db.persons.count_documents({}) == 3_000
    ids = await db.persons.distinct("_id")
    assert len(ids) == 3_000


async def test_rollback_undoes_and_resets_the_checkpoint(
    mongo_client: MongoClient, db: Database
) -> None:
    await _seed(db, 20)
    migration = PeopleToPersons(db.name)
    runner = _runner(mongo_client, db)
    await runner.run(migration)
    assert await runner.rollback(migration) == {"persons": 20}
    record = await runner.record(migration.id)
    assert record is not None
    assert record["status"] == Status.ROLLED_BACK
    assert record["checkpoint"]["processed"] == 0
    assert await db.persons.count_documents({}) == 0
    assert (await runner.run(migration))["checkpoint"]["processed"] == 20


async def test_command_line_runs_lists_and_reports(
    db: Database, mongodb_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _seed(db, 40)
    monkeypatch.setenv("MONGODB_URL", mongodb_url)
    monkeypatch.setenv("MIGRATIONS_STATE_DB", db.name)
    migrations = {PeopleToPersons.id: PeopleToPersons(db.name)}
    app = migrations_cli(lambda *_: migrations)

    def run_cli(*argv: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, list(argv))
        return result.exit_code, result.stdout

    code, out = await asyncio.to_thread(run_cli, "run", PeopleToPersons.id, "--dry-run")
    assert (code, '"would_process": 40' in out) == (0, True)
    code, out = await asyncio.to_thread(run_cli, "run", PeopleToPersons.id, "--batch-size", "7")
    assert (code, '"status": "completed"' in out) == (0, True)
    code, out = await asyncio.to_thread(run_cli, "list")
    assert (code, "completed" in out) == (0, True)
    assert (await asyncio.to_thread(run_cli, "verify", PeopleToPersons.id))[0] == 0
    assert (await asyncio.to_thread(run_cli, "run", "nope"))[0] == 2
    assert await db.persons.count_documents({}) == 40
