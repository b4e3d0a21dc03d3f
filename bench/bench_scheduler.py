"""Scheduler tick cost against population size: does it follow the due users, not all users?

For each population (default 10k and 100k users in `proactive_state`, 1% due) one tick is timed
end to end (lease, indexed due query, decide, claim + emit in a transaction, next_due_at). A
second, idle tick (nobody due) shows the fixed cost. A real database server (SecantusDB unless
MONGODB_URL names another); no broker is needed (the emitted events stay in the outbox).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench.report import print_table, write_result
from bench.servers import database, describe_database
from bench.sizes import sized
from services.scheduler.domain.rules import ProactiveState
from services.scheduler.records import ProactiveRecord
from services.scheduler.repositories import PROACTIVE_STATE, SCHEDULER_INDEXES, state_document
from services.scheduler.tick import Scheduler
from services.scheduler.unit_of_work import MongoSchedulerStore, scheduler_work
from shared.clock import ManualClock
from shared.config import MongoSettings
from shared.mongo import Document, create_client, ensure_indexes
from shared.outbox import OUTBOX_COLLECTION, Outbox
from shared.unit_of_work import Transactions

NOW = datetime(2026, 1, 15, 16, 0, tzinfo=UTC)  # 11:00 in New York


def _user(n: int, due: bool) -> Document:
    """One user's stored record; inserted in bulk (a save per user would time the seeding)."""
    state = ProactiveState(
        user_id=f"u{n:07d}",
        timezone="America/New_York",
        journey_phase="active",
        band="high",
        has_access=True,
        last_contact_at=NOW - timedelta(days=4),
        last_crisis_event_at=NOW - timedelta(days=2) if due else None,
    )
    next_due = NOW - timedelta(minutes=5) if due else NOW + timedelta(days=2)
    return state_document(ProactiveRecord(state, f"+1555{n:07d}", next_due_at=next_due))


async def _measure(url: str, population: int, due_share: float) -> dict[str, object]:
    client = create_client(MongoSettings(url=url))
    db = client[f"bench_scheduler_{uuid.uuid4().hex[:8]}"]
    await ensure_indexes(db, SCHEDULER_INDEXES)
    every = max(1, round(1 / due_share))
    batch: list[Document] = []
    for n in range(population):
        batch.append(_user(n, due=n % every == 0))
        if len(batch) == 5_000:
            await db[PROACTIVE_STATE].insert_many(batch)
            batch = []
    if batch:
        await db[PROACTIVE_STATE].insert_many(batch)
    clock = ManualClock(NOW)
    outbox = Outbox(db[OUTBOX_COLLECTION], clock)
    scheduler = Scheduler(
        MongoSchedulerStore(db),
        Transactions(client, outbox, scheduler_work(db)),
        clock,
        holder="bench",
        batch_size=100_000,
        lease_seconds=60,
        subscriptions_enabled=False,
    )
    started = time.perf_counter()
    report = await scheduler.tick()
    busy = time.perf_counter() - started
    started = time.perf_counter()
    await scheduler.tick()
    idle = time.perf_counter() - started
    plan = await db[PROACTIVE_STATE].find({"next_due_at": {"$lte": NOW}}).explain()
    await client.drop_database(db.name)
    await client.close()
    assert report is not None
    return {
        "users": population,
        "due": report.due,
        "sent": report.sent,
        "tick_s": round(busy, 3),
        "ms_per_due_user": round(busy / max(1, report.due) * 1000, 2),
        "idle_tick_ms": round(idle * 1000, 2),
        "due_query_uses_index": "IXSCAN" in str(plan),
    }


async def _main(populations: list[int], due_share: float) -> None:
    with database() as url:
        server = describe_database(url)
        rows = [await _measure(url, size, due_share) for size in populations]
    print_table(f"scheduler tick, {due_share:.0%} of users due", rows)
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        print(
            f"users x{int(last['users']) / int(first['users']):.0f} -> "  # type: ignore[call-overload]
            f"tick time x{float(last['tick_s']) / float(first['tick_s']):.1f}, "  # type: ignore[arg-type]
            f"idle tick x{float(last['idle_tick_ms']) / float(first['idle_tick_ms']):.1f}"  # type: ignore[arg-type]
        )
    write_result("scheduler", rows, due_share=due_share, database=server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--users", default=sized("10000,100000", "2000,10000"), help="population sizes"
    )
    parser.add_argument("--due", type=float, default=0.01, help="share of users due")
    args = parser.parse_args()
    asyncio.run(_main([int(n) for n in args.users.split(",")], args.due))


if __name__ == "__main__":
    main()
