"""Running a migration: leased, checkpointed after every batch, throttled, resumable.

The `migrations` collection holds one record per migration: phase, status, checkpoint (last
processed `_id`, counts, error samples), timing and the lease. A batch's writes land before its
checkpoint moves, so a runner killed at any moment leaves at most one batch to be processed
again, and the writes only create what is absent, keyed by the source id, so that is harmless.
Only the lease holder may move the checkpoint; a second runner is told who holds it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from pydantic import ValidationError
from pymongo import ReturnDocument
from pymongo.errors import AutoReconnect, CursorNotFound

from shared.clock import Clock
from shared.logging import mask_text
from shared.migrations.framework import (
    Destination,
    DocumentRejected,
    Migration,
    PrerequisiteMissing,
    Status,
)
from shared.mongo import Database, Document, MongoClient

log = structlog.get_logger(__name__)

MIGRATIONS_COLLECTION = "migrations"
_ERROR_SAMPLES = 20


class LeaseHeld(Exception):
    """Another runner holds this migration."""

    def __init__(self, migration_id: str, holder: str, until: Any) -> None:
        super().__init__(f"migration {migration_id} is held by {holder} until {until}")
        self.holder = holder


class LeaseLost(Exception):
    """This runner's lease expired and another took over: stop without touching the checkpoint."""


@dataclass(frozen=True)
class DryRun:
    would_process: int
    sample: list[dict[str, Any]]


# What a plan may raise for one bad document without the run stopping (a bug in a migration
# that rejects every document still shows: the error samples fill and `failed` climbs).
_REJECTIONS = (DocumentRejected, ValueError, TypeError, KeyError)


def describe_rejection(error: Exception) -> str:
    """Why a document was rejected, safe to store: a validation error names the fields at
    fault but never echoes their values (names, phone numbers)."""
    if isinstance(error, ValidationError):
        fields = sorted({".".join(map(str, e["loc"])) or "<root>" for e in error.errors()})
        return f"ValidationError in {error.title}: {', '.join(fields)}"[:300]
    return f"{type(error).__name__}: {mask_text(str(error))}"[:300]


class MigrationRunner:
    def __init__(
        self,
        client: MongoClient,
        state_db: Database,
        clock: Clock,
        *,
        worker_id: str,
        lease_seconds: float = 60,
        throttle_docs_per_second: float = 0,
    ) -> None:
        self._client = client
        self._records = state_db[MIGRATIONS_COLLECTION]
        self._clock = clock
        self._worker = worker_id
        self._lease = timedelta(seconds=lease_seconds)
        self._throttle = throttle_docs_per_second

    async def record(self, migration_id: str) -> Document | None:
        return await self._records.find_one({"_id": migration_id})

    async def records(self) -> list[Document]:
        return [record async for record in self._records.find().sort("_id", 1)]

    def _source(self, migration: Migration) -> Any:
        return self._client[migration.source.database][migration.source.collection]

    async def dry_run(self, migration: Migration, *, sample_size: int = 5) -> DryRun:
        """Count and sample what a run would do, writing nothing (not even the record)."""
        record = await self.record(migration.id)
        query = self._remaining(migration, (record or {}).get("checkpoint", {}).get("last_id"))
        total = await self._source(migration).count_documents(query)
        sample: list[dict[str, Any]] = []
        cursor = self._source(migration).find(query, migration.projection()).sort("_id", 1)
        async for document in cursor.limit(sample_size):
            try:
                plan = migration.plan(document)
            except _REJECTIONS as error:
                sample.append(
                    {"source_id": str(document["_id"]), "rejected": describe_rejection(error)}
                )
                continue
            writes = [
                destination.shape(row) for destination, rows in plan.writes.items() for row in rows
            ]
            sample.append({"source_id": str(document["_id"]), "writes": writes})
        return DryRun(would_process=total, sample=sample)

    def _remaining(self, migration: Migration, last_id: Any) -> Document:
        query = dict(migration.source_query())
        if last_id is not None:
            query["_id"] = {"$gt": last_id}
        return query

    async def _acquire(self, migration: Migration, *, even_if_completed: bool = False) -> Document:
        now = self._clock.now()
        await self._records.update_one(
            {"_id": migration.id},
            {
                "$setOnInsert": {
                    "description": migration.description,
                    "status": Status.PENDING.value,
                    "checkpoint": {"last_id": None, "processed": 0, "succeeded": 0, "failed": 0},
                    "error_samples": [],
                    "lease_until": now,
                    "lease_holder": None,
                }
            },
            upsert=True,
        )
        record = await self._records.find_one_and_update(
            {
                "_id": migration.id,
                **({} if even_if_completed else {"status": {"$ne": Status.COMPLETED.value}}),
                "$or": [{"lease_until": {"$lte": now}}, {"lease_holder": self._worker}],
            },
            {
                "$set": {
                    "status": Status.RUNNING.value,
                    "phase": migration.phase.value,
                    "lease_holder": self._worker,
                    "lease_until": now + self._lease,
                    "started_at": now,
                    "finished_at": None,
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        if record is not None:
            return record
        current = await self.record(migration.id) or {}
        if current.get("status") == Status.COMPLETED.value and not even_if_completed:
            return current
        raise LeaseHeld(migration.id, str(current.get("lease_holder")), current.get("lease_until"))

    async def run(
        self,
        migration: Migration,
        *,
        batch_size: int = 500,
        on_progress: Callable[[int], object] | None = None,
    ) -> Document:
        """Run (or resume) `migration` to completion; returns its final record."""
        await self._check_prerequisites(migration)
        record = await self._acquire(migration)
        if record.get("status") == Status.COMPLETED.value:
            return record
        await migration.prepare(self._client)
        started = time.monotonic()
        done_this_run = 0
        try:
            async for batch in self._batches(migration, record, batch_size):
                record = await self._apply_batch(migration, batch)
                done_this_run += len(batch)
                if on_progress is not None:
                    on_progress(len(batch))
                await self._throttle_to(done_this_run, started)
            return await self._finish(migration)
        except LeaseLost:
            raise
        except Exception as error:
            await self._records.update_one(
                {"_id": migration.id, "lease_holder": self._worker},
                {
                    "$set": {
                        "status": Status.FAILED.value,
                        "last_error": f"{type(error).__name__}: {mask_text(str(error))}"[:1_000],
                        "lease_until": self._clock.now(),
                    }
                },
            )
            raise

    async def _batches(
        self, migration: Migration, record: Document, batch_size: int
    ) -> AsyncIterator[list[Document]]:
        """The remaining source documents in `_id` order, `batch_size` at a time, from one
        cursor: a query per batch would make a server without an index-ordered range scan
        (SecantusDB) read the whole collection for every batch. A cursor the server dropped
        (idle timeout while throttled, failover) is reopened after the checkpoint."""
        last_id = (record.get("checkpoint") or {}).get("last_id")
        while True:
            cursor = (
                self._source(migration)
                .find(self._remaining(migration, last_id), migration.projection())
                .sort("_id", 1)
                .batch_size(batch_size)
            )
            batch: list[Document] = []
            try:
                async for document in cursor:
                    batch.append(document)
                    if len(batch) == batch_size:
                        yield batch
                        last_id = batch[-1]["_id"]
                        batch = []
            except (CursorNotFound, AutoReconnect) as error:
                log.warning("migration cursor lost; reopening", error=type(error).__name__)
                continue
            finally:
                await cursor.close()
            if batch:
                yield batch
            return

    async def _check_prerequisites(self, migration: Migration) -> None:
        for required in migration.requires_verified:
            record = await self.record(required) or {}
            if (
                record.get("status") != Status.COMPLETED.value
                or record.get("verify_ok") is not True
            ):
                raise PrerequisiteMissing(
                    f"{migration.id} needs {required} completed and verified "
                    f"(status {record.get('status', 'pending')}, "
                    f"verified {record.get('verify_ok')})"
                )

    async def _apply_batch(self, migration: Migration, batch: list[Document]) -> Document:
        """Plan every document, then one unordered bulk write per destination, destinations in
        the migration's order; a document whose write failed in one destination is left out of
        the rest, so it is never half-migrated further (and is counted and sampled once)."""
        writes: dict[Destination, list[tuple[str, Any]]] = {}
        samples: list[dict[str, str]] = []
        failed: set[str] = set()
        for document in batch:
            source_id = str(document.get("_id"))
            try:
                plan = migration.plan(document)
            except _REJECTIONS as error:
                failed.add(source_id)
                samples.append({"source_id": source_id, "error": describe_rejection(error)})
                continue
            for destination, rows in plan.writes.items():
                writes.setdefault(destination, []).extend((source_id, row) for row in rows)
        order = {destination: index for index, destination in enumerate(migration.targets())}
        for destination in sorted(writes, key=lambda d: order.get(d, len(order))):
            pending = [
                (source_id, row)
                for source_id, row in writes[destination]
                if source_id not in failed
            ]
            if not pending:
                continue
            failures = await destination.write(self._client, [row for _, row in pending])
            for failure in failures:
                source_id = pending[failure.index][0]
                if source_id in failed:
                    continue
                failed.add(source_id)
                samples.append(
                    {
                        "source_id": source_id,
                        "error": f"write to {destination.label}: code {failure.code}",
                    }
                )
        rejected = len(failed)
        now = self._clock.now()
        updated = await self._records.find_one_and_update(
            {"_id": migration.id, "lease_holder": self._worker},
            {
                "$set": {"checkpoint.last_id": batch[-1]["_id"], "lease_until": now + self._lease},
                "$inc": {
                    "checkpoint.processed": len(batch),
                    "checkpoint.succeeded": len(batch) - rejected,
                    "checkpoint.failed": rejected,
                },
                "$push": {
                    "error_samples": {"$each": samples[-_ERROR_SAMPLES:], "$slice": -_ERROR_SAMPLES}
                },
            },
            return_document=ReturnDocument.AFTER,
        )
        if updated is None:
            raise LeaseLost(migration.id)
        return updated

    async def _finish(self, migration: Migration) -> Document:
        now = self._clock.now()
        record = await self._records.find_one_and_update(
            {"_id": migration.id, "lease_holder": self._worker},
            {
                "$set": {
                    "status": Status.COMPLETED.value,
                    "finished_at": now,
                    "lease_until": now,
                    "lease_holder": None,
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        if record is None:
            raise LeaseLost(migration.id)
        log.info("migration completed", migration=migration.id, **record["checkpoint"])
        return record

    async def _throttle_to(self, done: int, started: float) -> None:
        if self._throttle <= 0:
            return
        ahead = done / self._throttle - (time.monotonic() - started)
        if ahead > 0:
            await asyncio.sleep(ahead)

    async def verify(self, migration: Migration) -> Document:
        report = await migration.verify(self._client)
        await self._records.update_one(
            {"_id": migration.id},
            {
                "$set": {
                    "verified_at": self._clock.now(),
                    "verify_ok": report.ok,
                    "verify_details": dict(report.details),
                }
            },
            upsert=True,
        )
        return {"ok": report.ok, **dict(report.details)}

    async def rollback(self, migration: Migration) -> Mapping[str, int]:
        await self._acquire(migration, even_if_completed=True)
        counts = await migration.rollback(self._client)
        await self._records.update_one(
            {"_id": migration.id},
            {
                "$set": {
                    "status": Status.ROLLED_BACK.value,
                    "checkpoint": {"last_id": None, "processed": 0, "succeeded": 0, "failed": 0},
                    "lease_holder": None,
                    "lease_until": self._clock.now(),
                    "rolled_back_at": self._clock.now(),
                }
            },
            upsert=True,
        )
        return counts
