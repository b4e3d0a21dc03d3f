"""Migration throughput: documents/s and database round trips per document, by batch size.

For each batch size (default 100, 500, 1000) a fresh set of databases gets the same generated
legacy data (`--users`, 3 messages per user on average), then the runner (in process, as the
CLI runs it) does the backfills 001 and 002, verifies both, and runs their cleanups 003 and 004.
A PyMongo command listener counts every command the runner sends (finds and getMores, bulk
writes, checkpoints). The original system's migration ran at 136 messages/s (backfill) and
612/s (cleanup); those are the baselines in the ratio column.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import Counter
from typing import Any

from pymongo import monitoring

from bench.report import print_table, write_result
from bench.servers import database, describe_database
from bench.sizes import sized
from services.migrations import message_parts, product_migrations, split_users
from services.migrations.fixtures import generate
from shared.clock import SystemClock
from shared.config import MigrationSettings, MongoSettings
from shared.migrations import MigrationRunner
from shared.mongo import MongoClient, create_client

BASELINES = {"backfill": 136.1, "cleanup": 612.4}


class CommandCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.prefix = ""

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.prefix and event.database_name.startswith(self.prefix):
            self.counts[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


async def _one_batch_size(
    client: MongoClient, url: str, users: int, batch_size: int, counter: CommandCounter
) -> list[dict[str, Any]]:
    prefix = f"bench_mig_{uuid.uuid4().hex[:8]}"
    mongo = MongoSettings(url=url, db_prefix=prefix)
    settings = MigrationSettings(legacy_db=f"{prefix}_legacy", state_db=f"{prefix}_migrations")
    generated = await generate(client[settings.legacy_db], users=users, messages_per_user=3)
    migrations = product_migrations(
        mongo, settings, now=SystemClock().now(), default_timezone="America/New_York"
    )
    runner = MigrationRunner(
        client, client[settings.state_db], SystemClock(), worker_id="bench", lease_seconds=300
    )
    rows: list[dict[str, Any]] = []
    order = (split_users.ID, message_parts.ID, split_users.CLEANUP_ID, message_parts.CLEANUP_ID)
    for migration_id in order:
        migration = migrations[migration_id]
        counter.counts.clear()
        counter.prefix = prefix
        started = time.perf_counter()
        record = await runner.run(migration, batch_size=batch_size)
        elapsed = time.perf_counter() - started
        counter.prefix = ""
        commands = sum(counter.counts.values())
        processed = record["checkpoint"]["processed"]
        verify = await runner.verify(migration)
        kind = (
            "cleanup"
            if migration_id in (split_users.CLEANUP_ID, message_parts.CLEANUP_ID)
            else "backfill"
        )
        rows.append(
            {
                "migration": migration_id,
                "batch": batch_size,
                "source docs": processed,
                "failed": record["checkpoint"]["failed"],
                "seconds": round(elapsed, 2),
                "docs/s": round(processed / elapsed, 1),
                "vs original": f"{processed / elapsed / BASELINES[kind]:.2f}x",
                "round trips": commands,
                "trips/doc": round(commands / max(processed, 1), 4),
                "verify": "ok" if verify["ok"] else "FAILED",
            }
        )
    rows[0]["users"] = generated.users
    await client.drop_database(f"{prefix}_legacy")
    for name in ("sms_worker", "billing_worker", "migrations"):
        await client.drop_database(f"{prefix}_{name}")
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=sized(5_000, 1_000))
    parser.add_argument("--batch-sizes", default=sized("100,500,1000", "100,1000"))
    args = parser.parse_args()
    counter = CommandCounter()
    monitoring.register(counter)
    rows: list[dict[str, Any]] = []
    with database() as url:
        server = describe_database(url)
        client = create_client(MongoSettings(url=url), app_name="bench-migrations")
        try:
            for batch_size in (int(size) for size in args.batch_sizes.split(",")):
                rows += await _one_batch_size(client, url, args.users, batch_size, counter)
        finally:
            await client.close()
    for row in rows:
        row.pop("users", None)
    print_table(
        f"migrations: {args.users:,} generated legacy users (~3 messages each), {server}",
        rows,
    )
    print(
        "baselines: the original system's migration, 136.1 msg/s backfill and 612.4 msg/s cleanup"
    )
    write_result("migrations", rows, users=args.users, baselines=BASELINES, database=server)


if __name__ == "__main__":
    asyncio.run(main())
