"""A small migration for the runner's tests: legacy `people` → `persons`, upserted by source id.

Runnable as a process (`python -m tests.support.sample_migration DB`) so a test can SIGKILL it
mid-run. Settings: MONGODB_URL; MIGRATIONS_* (lease, throttle).
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
from collections.abc import Mapping

from pymongo import UpdateOne

from shared.clock import SystemClock
from shared.config import MigrationSettings, MongoSettings, load_settings
from shared.migrations import (
    DocumentRejected,
    Migration,
    MigrationRunner,
    Plan,
    Target,
    VerifyReport,
)
from shared.mongo import Document, MongoClient, create_client


class PeopleToPersons(Migration):
    id = "900_people_to_persons"
    description = "test: copy legacy people into persons with normalised names"

    def __init__(self, database: str) -> None:
        self.source = Target(database, "people")
        self.target = Target(database, "persons")

    def plan(self, document: Document) -> Plan:
        score = document.get("score")
        if isinstance(score, str):
            score = float(score) if score.strip() else None
        if isinstance(score, float) and math.isnan(score):
            raise DocumentRejected("score is NaN")
        name = document.get("firstName") or "friend"
        return Plan().add(
            self.target,
            UpdateOne(
                {"_id": document["_id"]},
                {"$set": {"first_name": str(name).strip().title(), "score": score}},
                upsert=True,
            ),
        )

    async def verify(self, client: MongoClient) -> VerifyReport:
        db = client[self.target.database]
        source = await db.people.count_documents({})
        moved = await db.persons.count_documents({})
        return VerifyReport(ok=moved <= source, details={"source": source, "target": moved})

    async def rollback(self, client: MongoClient) -> Mapping[str, int]:
        deleted = await client[self.target.database].persons.delete_many({})
        return {"persons": deleted.deleted_count}


async def _main(database: str, worker: str) -> None:
    settings = load_settings(MigrationSettings)
    client = create_client(load_settings(MongoSettings))
    runner = MigrationRunner(
        client,
        client[database],
        SystemClock(),
        worker_id=worker,
        lease_seconds=settings.lease_seconds,
        throttle_docs_per_second=settings.throttle_docs_per_second,
    )
    await runner.run(PeopleToPersons(database), batch_size=settings.batch_size)
    await client.close()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], f"process-{os.getpid()}"))
