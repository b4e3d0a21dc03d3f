"""What a data migration is: a source query and a pure per-document plan of idempotent writes.

A migration never writes itself. `plan(document)` returns, per destination, the rows that move
one source document (keyed by the source id, so replaying a batch is harmless); the runner
groups them per destination into one bulk write a batch, checkpoints, throttles and holds the
lease. That keeps every migration a pure function that tests can check document by document,
and a dry run only has to not execute.

A destination is either a service's repository bulk method (`Into`: the service that owns the
collection builds its documents, so a migration never writes a service's data by collection
name) or a `Target`, a collection of the migration's own source database (its "migrated" marks,
the cleanups) written with plain write operations.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel
from pymongo import DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
from pymongo.errors import BulkWriteError

from shared.mongo import BulkFailure, Database, Document, MongoClient

WriteOp = InsertOne[Document] | UpdateOne | UpdateMany | ReplaceOne[Document] | DeleteOne
Row = TypeVar("Row")


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


class Destination(abc.ABC):
    """Where a plan's rows go: one bulk write per batch, reporting the rows it could not write."""

    @property
    @abc.abstractmethod
    def label(self) -> str:
        """Names the destination in error samples and dry runs."""

    @abc.abstractmethod
    async def write(self, client: MongoClient, rows: Sequence[Any]) -> Sequence[BulkFailure]:
        """Write `rows` unordered; a failure's index is the row's position in `rows`."""

    def shape(self, row: Any) -> dict[str, Any]:
        """A row's shape for a dry run: where, what kind, which fields — never values."""
        return {"target": self.label, "op": type(row).__name__, "fields": sorted(_fields(row))}


@dataclass(frozen=True)
class Target(Destination):
    """A collection of a migration's own database (its source): read by the runner, written
    with plain write operations (the "migrated" marks, a cleanup's unsets). A service's
    collections are never a `Target`: they are written through the service's `Into`."""

    database: str
    collection: str

    @property
    def label(self) -> str:
        return f"{self.database}.{self.collection}"

    async def write(self, client: MongoClient, rows: Sequence[Any]) -> Sequence[BulkFailure]:
        try:
            await client[self.database][self.collection].bulk_write(list(rows), ordered=False)
        except BulkWriteError as error:
            return [
                BulkFailure(index=failure["index"], code=failure.get("code"))
                for failure in error.details.get("writeErrors", [])
            ]
        return []


@dataclass(frozen=True, eq=False)
class Into(Destination, Generic[Row]):
    """Rows (records) written by the bulk method of the repository that owns them, bound to a
    database: `bulk(database, rows)` builds the documents and writes them unordered. Compared
    by identity: a migration builds each of its destinations once."""

    name: str
    database: str
    bulk: Callable[[Database, Sequence[Row]], Awaitable[Sequence[BulkFailure]]]

    @property
    def label(self) -> str:
        return f"{self.database}.{self.name}"

    async def write(self, client: MongoClient, rows: Sequence[Any]) -> Sequence[BulkFailure]:
        return await self.bulk(client[self.database], rows)


def _fields(row: Any) -> list[str]:
    """Field names of a write operation (`$set.name`), a record or a document."""
    if isinstance(row, BaseModel):
        return list(type(row).model_fields)
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return [item.name for item in dataclasses.fields(row)]
    document: Mapping[str, Any] = getattr(row, "_doc", None) or (
        row if isinstance(row, Mapping) else {}
    )
    names: list[str] = []
    for key, value in document.items():
        if key.startswith("$") and isinstance(value, Mapping):
            names.extend(f"{key}.{name}" for name in value)
        else:
            names.append(key)
    return names


@dataclass
class Plan:
    """The rows that migrate one source document, by destination."""

    writes: dict[Destination, list[Any]] = field(default_factory=dict)

    def add(self, destination: Destination, row: Any) -> Plan:
        self.writes.setdefault(destination, []).append(row)
        return self


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

    def targets(self) -> Sequence[Destination]:
        """The destinations this migration writes, in the order a batch writes them.

        A source document whose write fails in one target gets no writes in the later ones,
        so put the write that can refuse (a unique key) first and any "done" mark last.
        """
        return ()
