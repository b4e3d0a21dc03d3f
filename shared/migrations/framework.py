"""What a data migration is: a source query and a pure per-document plan of idempotent writes.

A migration never writes itself. `plan(document)` returns the writes that move one source
document (upserts keyed by the source id, so replaying a batch is harmless); the runner groups
them into bulk writes, checkpoints, throttles and holds the lease. That keeps every migration a
pure function that tests can check document by document, and a dry run only has to not execute.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from pymongo import DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne

from shared.mongo import Document, MongoClient

WriteOp = InsertOne[Document] | UpdateOne | UpdateMany | ReplaceOne[Document] | DeleteOne


class Phase(StrEnum):
    """The phases of an online migration at scale, in order."""

    SCHEMA = "schema"
    BACKFILL = "backfill"
    DUAL_WRITE = "dual-write"
    DUAL_READ = "dual-read"
    CLEANUP = "cleanup"
    COMPLETE = "complete"


class Status(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    ROLLED_BACK = "rolled-back"


@dataclass(frozen=True)
class Target:
    """A collection a migration writes: database name and collection name."""

    database: str
    collection: str


@dataclass
class Plan:
    """The writes that migrate one source document, by target collection."""

    writes: dict[Target, list[WriteOp]] = field(default_factory=dict)

    def add(self, target: Target, write: WriteOp) -> Plan:
        self.writes.setdefault(target, []).append(write)
        return self


def insert_if_absent(key: Any, document: Mapping[str, Any]) -> InsertOne[Document]:
    """Create `key` with `document` unless it exists: the backfill's write.

    The same effect as an upsert with `$setOnInsert` (a document that exists — from a previous
    run, or created by the live system since — is left alone), at a fraction of its cost: an
    insert is one index probe, an upsert a query then a write (5-8x faster on SecantusDB). The
    runner counts a duplicate `_id` as done; any other unique index refusing it is a failure.
    """
    return InsertOne({"_id": key, **document})


class NotReversible(Exception):
    """The migration has no rollback (its writes cannot be told apart from live data)."""


class PrerequisiteMissing(Exception):
    """A migration this one depends on has not completed and verified yet."""


class DocumentRejected(Exception):
    """This source document cannot be migrated; it is counted and sampled, the run goes on."""


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    details: Mapping[str, Any]


class Migration(abc.ABC):
    """One migration. Subclasses set the class attributes and implement `plan`."""

    id: ClassVar[str]
    description: ClassVar[str]
    phase: ClassVar[Phase] = Phase.BACKFILL
    # Migrations that must have completed and passed verify before this one may run (cleanups).
    requires_verified: ClassVar[tuple[str, ...]] = ()
    # Instance attribute: database names come from settings, not from code.
    source: Target

    def source_query(self) -> Document:
        """Which source documents to migrate (the runner adds the `_id` checkpoint)."""
        return {}

    def projection(self) -> Document | None:
        """Fields to read from the source (None: all)."""
        return None

    async def prepare(self, client: MongoClient) -> None:
        """The schema phase: create what the writes rely on (unique indexes that refuse a
        duplicate) before the first batch. Runs at every start, so it must be idempotent."""
        return None

    @abc.abstractmethod
    def plan(self, document: Document) -> Plan:
        """The idempotent writes for one source document; raise `DocumentRejected` to skip it."""

    async def verify(self, client: MongoClient) -> VerifyReport:
        """Compare source and targets; the default has nothing to compare."""
        return VerifyReport(ok=True, details={"note": "no verification defined"})

    async def rollback(self, client: MongoClient) -> Mapping[str, int]:
        """Undo the migration's writes; returns counts per target. Default: not reversible."""
        raise NotReversible(f"migration {self.id} has no rollback")

    def targets(self) -> Sequence[Target]:
        """The collections this migration writes, in the order a batch writes them.

        A source document whose write fails in one target gets no writes in the later ones,
        so put the write that can refuse (a unique key) first and any "done" mark last.
        """
        return ()
