"""Unordered bulk writes that report which of their documents failed, for data migrations.

A data migration moves thousands of documents a batch; one command per document would take
hours. The owning service's repositories build their documents and hand them to these helpers,
which write them in one unordered command and say which ones the server refused and why, so the
migration can report that source document (and write none of its other rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from shared.mongo.client import Document

DUPLICATE_KEY: Final = 11000
# The fields that tell a migrated document from one the live system wrote.
MIGRATED_FROM: Final = "migrated_from"
MIGRATED_AT: Final = "migrated_at"


@dataclass(frozen=True)
class BulkFailure:
    """The server refused the `index`-th document of a bulk write with error `code`."""

    index: int
    code: int | None


@dataclass(frozen=True)
class Provenance:
    """Marks the documents a data migration created, so its verify and rollback find them and
    the live system's own documents (which never carry it) are never mistaken for them."""

    source: str
    at: datetime

    def fields(self) -> Document:
        return {MIGRATED_FROM: self.source, MIGRATED_AT: self.at}


def migrated_from(source: str) -> Document:
    """The query for the documents a migration from `source` created (verify, rollback)."""
    return {MIGRATED_FROM: source}


def changed_since_migrated(document: Document) -> bool:
    """Whether the live system changed a migrated document since (it moved `updated_at`): its
    data is newer than the legacy copy's, so a verify does not compare it."""
    return bool(_utc_ms(document.get("updated_at")) != _utc_ms(document.get(MIGRATED_AT)))


def _utc_ms(value: Any) -> Any:
    """Stored datetimes come back UTC with millisecond precision (naive if the client is)."""
    if not isinstance(value, datetime):
        return value
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    aware = aware.astimezone(UTC)
    return aware.replace(microsecond=aware.microsecond // 1000 * 1000)


async def insert_absent(
    collection: AsyncCollection[Document], documents: Sequence[Document]
) -> list[BulkFailure]:
    """Insert each document unless its `_id` exists: the backfill's write.

    The effect of an upsert with `$setOnInsert` (what exists — from an earlier run, or created
    by the live system since — is left alone) at a fraction of its cost: an insert is one index
    probe, an upsert a query then a write (5-8x faster on SecantusDB). A duplicate key on a
    document whose `_id` is already there is done, not failed; the server may name whichever
    unique index it checked first (SecantusDB: the phone's before `_id`'s), so the `_id`s are
    looked up rather than the error trusted. Any other unique index refusing it is a failure.
    """
    if not documents:
        return []
    try:
        await collection.bulk_write([InsertOne(dict(doc)) for doc in documents], ordered=False)
    except BulkWriteError as error:
        failures = _failures(error)
        candidates: dict[Any, list[int]] = {}
        for failure in failures:
            if failure.code == DUPLICATE_KEY:
                candidates.setdefault(documents[failure.index]["_id"], []).append(failure.index)
        present: set[int] = set()
        if candidates:
            found = collection.find({"_id": {"$in": list(candidates)}}, {"_id": 1})
            async for document in found:
                present.update(candidates[document["_id"]])
        return [failure for failure in failures if failure.index not in present]
    return []


async def upsert_absent(
    collection: AsyncCollection[Document], key: str, documents: Sequence[Document]
) -> list[BulkFailure]:
    """Create each document unless one with the same `key` field exists (not `_id`): for a
    collection whose identity is a unique field, like a phone. Every refusal is a failure."""
    if not documents:
        return []
    writes = [
        UpdateOne({key: doc[key]}, {"$setOnInsert": dict(doc)}, upsert=True) for doc in documents
    ]
    try:
        await collection.bulk_write(writes, ordered=False)
    except BulkWriteError as error:
        return _failures(error)
    return []


def _failures(error: BulkWriteError) -> list[BulkFailure]:
    details: Any = error.details.get("writeErrors", [])
    return [BulkFailure(index=failure["index"], code=failure.get("code")) for failure in details]
