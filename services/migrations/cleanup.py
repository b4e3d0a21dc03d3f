"""The cleanup phase, one class for every migration: unset the moved fields on the source
documents the backfill marked as migrated, once the backfill has completed and verified. It
writes only the legacy source, the migrations' own database.

Unmarked documents (rejected or duplicate during the backfill) keep every field: nothing that
did not arrive in its new home is removed. Not reversible by design; run it after dual-read has
shown the new collections are the ones being read.
"""

from __future__ import annotations

from typing import ClassVar

from pymongo import UpdateOne

from shared.migrations import Migration, Phase, Plan, Target, VerifyReport
from shared.mongo import Document, MongoClient
from shared.mongo.each_document import each_document


class UnsetMovedFields(Migration):
    phase: ClassVar[Phase] = Phase.CLEANUP

    def __init__(
        self,
        *,
        migration_id: str,
        description: str,
        after: str,
        source: Target,
        fields: tuple[str, ...],
        migrated_mark: str,
    ) -> None:
        # Per instance: one class serves every cleanup.
        self.id = migration_id  # type: ignore[misc]
        self.description = description  # type: ignore[misc]
        self.requires_verified = (after,)  # type: ignore[misc]
        self.source = source
        self.fields = fields
        self._mark = migrated_mark

    def source_query(self) -> Document:
        return {self._mark: {"$exists": True}}

    def projection(self) -> Document | None:
        return dict.fromkeys(self.fields, 1)

    def targets(self) -> tuple[Target, ...]:
        return (self.source,)

    def plan(self, document: Document) -> Plan:
        present = [field for field in self.fields if field in document]
        if not present:
            return Plan()
        return Plan().add(
            self.source,
            UpdateOne({"_id": document["_id"]}, {"$unset": dict.fromkeys(present, "")}),
        )

    async def verify(self, client: MongoClient) -> VerifyReport:
        source = client[self.source.database][self.source.collection]
        with_fields = {"$or": [{field: {"$exists": True}} for field in self.fields]}
        left = await source.count_documents({**self.source_query(), **with_fields})
        kept = await source.count_documents({self._mark: {"$exists": False}, **with_fields})
        return VerifyReport(
            ok=left == 0,
            details={
                "source": await source.count_documents({}),
                "migrated_with_moved_fields": left,
                "not_migrated_kept_intact": kept,
            },
        )


# Source documents unmarked per command.
UNMARK_BATCH = 500


async def unmark_source(client: MongoClient, source: Target, migrated_mark: str) -> dict[str, int]:
    """The legacy half of a backfill's rollback: unmark its source documents, so a later run
    migrates them again. (What it created is deleted by the owning services' repositories.)

    A batch of single-document updates at a time, never one `update_many`: the services may be
    writing these documents in transactions meanwhile (`shared.mongo.each_document`)."""
    collection = client[source.database][source.collection]
    marked = {migrated_mark: {"$exists": True}}
    unmarked = 0
    while ids := [
        row["_id"] async for row in collection.find(marked, {"_id": 1}).limit(UNMARK_BATCH)
    ]:
        result = await collection.bulk_write(
            each_document(ids, marked, {"$unset": {migrated_mark: ""}}), ordered=False
        )
        unmarked += result.modified_count
    return {f"{source.collection} unmarked": unmarked}
