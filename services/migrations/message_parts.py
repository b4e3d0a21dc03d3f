"""`002_normalize_message_parts`: arrays inside legacy messages → their own collections; `004`
unsets the arrays.

Legacy messages carried `attachments`, `toolCalls` and `partialToolCalls` arrays. They become
rows of the SMS worker's `attachments` and `tool_calls` collections, keyed by the legacy message
id (kept as `message_id`) and the part's position or tool-call id, so a replayed batch rewrites
nothing. The two tool-call arrays merge into one row per call with `is_partial`: a call present
in both is complete (the partial entry was its streaming state). `args`/`result` stored as
JSON strings become native values; a string that is not JSON is kept as-is under `args_raw`.

The SMS worker's repositories write the rows (`MongoAttachments.insert_migrated`,
`MongoToolCalls.insert_migrated`, in bulk): created once and never overwritten, like every
backfill write.
A message whose arrays are not lists of objects is rejected whole (reported in the error
samples) and keeps its arrays: half a message's parts would look complete and be wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

from pymongo import UpdateOne

from services.migrations import legacy_values as lv
from services.migrations.cleanup import UnsetMovedFields, unmark_source
from services.migrations.compare import differing_fields
from services.migrations.targets import MigrationDatabases
from services.sms_worker.records import ImportedAttachment, ImportedToolCall
from services.sms_worker.storage import MongoAttachments, MongoToolCalls, sms_worker_indexes
from services.sms_worker.views import MigratedRows, SmsWorkerMigrated
from shared.migrations import (
    Destination,
    DocumentRejected,
    Into,
    Migration,
    Phase,
    Plan,
    Target,
    VerifyReport,
)
from shared.mongo import Document, MongoClient, Provenance, ensure_indexes

ID: Final = "002_normalize_message_parts"
CLEANUP_ID: Final = "004_cleanup_message_parts"
ARRAYS: Final = ("attachments", "toolCalls", "partialToolCalls")
# The provenance of every row the backfill created, for verify and rollback.
MARK_VALUE: Final = "legacy.messages"
SOURCE_MARK: Final = "migrated_002_at"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _entries(document: Mapping[str, Any], field: str) -> list[Mapping[str, Any]]:
    value = document.get(field)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise DocumentRejected(f"`{field}` is not a list of objects")
    return value


def _json_field(row: dict[str, Any], name: str, value: Any) -> None:
    parsed, ok = lv.json_value(value)
    row[name] = parsed if ok else None
    if not ok:
        row[f"{name}_raw"] = parsed


def tool_call_rows(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per tool call of a legacy message; complete calls win over their partial state."""
    message_id = str(document["_id"])
    complete = _entries(document, "toolCalls")
    partial = _entries(document, "partialToolCalls")
    rows: dict[str, dict[str, Any]] = {}
    for is_partial, entries in ((False, complete), (True, partial)):
        for position, call in enumerate(entries):
            call_id = (
                lv.text(call.get("toolCallId")) or f"legacy-{'p' if is_partial else 'c'}{position}"
            )
            if call_id in rows:
                continue  # complete already recorded (or a duplicate entry in the same array)
            row: dict[str, Any] = {
                "message_id": message_id,
                "user_id": _optional_id(document.get("userId")),
                "conversation_id": _optional_id(document.get("conversationId")),
                "tool_call_id": call_id,
                "tool_name": lv.text(call.get("toolName")) or "unknown",
                "position": position,
                "text_position": lv.integer(call.get("textPosition"), minimum=0),
                "is_partial": is_partial,
                "created_at": lv.timestamp(call.get("timestamp"))
                or lv.timestamp(document.get("createdAt"))
                or _EPOCH,
            }
            _json_field(row, "args", call.get("args"))
            _json_field(row, "result", call.get("result"))
            rows[call_id] = row
    return list(rows.values())


def attachment_rows(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    message_id = str(document["_id"])
    return [
        {
            "message_id": message_id,
            "user_id": _optional_id(document.get("userId")),
            "conversation_id": _optional_id(document.get("conversationId")),
            "position": position,
            "type": lv.text(item.get("type")) or "file",
            "name": lv.text(item.get("name")),
            "storage_id": lv.text(item.get("storageId")),
            "url": lv.text(item.get("url")),
            "content_type": lv.text(item.get("mimeType")),
            "size": lv.integer(item.get("size"), minimum=0),
            "metadata": dict(lv.mapping(item.get("metadata"))),
            "created_at": lv.timestamp(document.get("createdAt")) or _EPOCH,
        }
        for position, item in enumerate(_entries(document, "attachments"))
    ]


def _optional_id(value: Any) -> str | None:
    return None if value is None else str(value)


class NormalizeMessageParts(Migration):
    id: ClassVar[str] = ID
    description: ClassVar[str] = (
        "legacy message attachments/toolCalls/partialToolCalls arrays → attachments, tool_calls"
    )
    phase: ClassVar[Phase] = Phase.BACKFILL

    def __init__(self, databases: MigrationDatabases, *, now: datetime) -> None:
        self.source = Target(databases.legacy, "messages")
        self.sms_worker = databases.sms_worker
        provenance = Provenance(MARK_VALUE, now)
        self.attachments = Into[ImportedAttachment](
            "attachments",
            databases.sms_worker,
            lambda db, rows: MongoAttachments(db).insert_migrated(rows, provenance),
        )
        self.tool_calls = Into[ImportedToolCall](
            "tool calls",
            databases.sms_worker,
            lambda db, rows: MongoToolCalls(db).insert_migrated(rows, provenance),
        )
        self._now = now

    def source_query(self) -> Document:
        return {"$or": [{field: {"$exists": True}} for field in ARRAYS]}

    def projection(self) -> Document | None:
        return dict.fromkeys(("userId", "conversationId", "createdAt", *ARRAYS), 1)

    def targets(self) -> tuple[Destination, ...]:
        return (self.attachments, self.tool_calls, self.source)

    async def prepare(self, client: MongoClient) -> None:
        await ensure_indexes(client[self.sms_worker], sms_worker_indexes())

    def plan(self, document: Document) -> Plan:
        message_id = str(document["_id"])
        plan = Plan()
        for row in attachment_rows(document):
            key = f"{message_id}:{row['position']}"
            plan.add(self.attachments, ImportedAttachment(id=key, **row))
        for row in tool_call_rows(document):
            key = f"{message_id}:{row['tool_call_id']}"
            plan.add(self.tool_calls, ImportedToolCall(id=key, **row))
        plan.add(
            self.source,
            UpdateOne(
                {"_id": document["_id"], SOURCE_MARK: {"$exists": False}},
                {"$set": {SOURCE_MARK: self._now}},
            ),
        )
        return plan

    async def verify(self, client: MongoClient) -> VerifyReport:
        """Every part of every migrated message is in its collection, field by field (read
        back through the SMS worker's read module)."""
        source = client[self.source.database][self.source.collection]
        stored_rows = SmsWorkerMigrated(client[self.sms_worker])
        expected_attachments = expected_calls = migrated = unmigrated = 0
        missing: list[dict[str, str]] = []
        async for document in source.find(self.source_query(), self.projection()):
            try:
                parts = {
                    MigratedRows.ATTACHMENTS: [
                        (f"{document['_id']}:{row['position']}", row)
                        for row in attachment_rows(document)
                    ],
                    MigratedRows.TOOL_CALLS: [
                        (f"{document['_id']}:{row['tool_call_id']}", row)
                        for row in tool_call_rows(document)
                    ],
                }
            except DocumentRejected:
                unmigrated += 1
                continue
            migrated += 1
            expected_attachments += len(parts[MigratedRows.ATTACHMENTS])
            expected_calls += len(parts[MigratedRows.TOOL_CALLS])
            for kind, rows in parts.items():
                missing.extend(await _compare(stored_rows, kind, rows, str(document["_id"])))
        stored_attachments = await stored_rows.count(MigratedRows.ATTACHMENTS, MARK_VALUE)
        stored_calls = await stored_rows.count(MigratedRows.TOOL_CALLS, MARK_VALUE)
        return VerifyReport(
            ok=not missing
            and stored_attachments == expected_attachments
            and stored_calls == expected_calls,
            details={
                "messages_with_parts": migrated,
                "messages_rejected": unmigrated,
                "attachments_expected": expected_attachments,
                "attachments_stored": stored_attachments,
                "tool_calls_expected": expected_calls,
                "tool_calls_stored": stored_calls,
                "mismatches": missing[:50],
            },
        )

    async def rollback(self, client: MongoClient) -> Mapping[str, int]:
        """Delete the rows the backfill created, through the SMS worker's repositories."""
        db = client[self.sms_worker]
        return {
            "attachments": await MongoAttachments(db).delete_migrated(MARK_VALUE),
            "tool_calls": await MongoToolCalls(db).delete_migrated(MARK_VALUE),
            **await unmark_source(client, self.source, SOURCE_MARK),
        }


async def _compare(
    stored_rows: SmsWorkerMigrated,
    kind: MigratedRows,
    rows: Iterable[tuple[str, Mapping[str, Any]]],
    source_id: str,
) -> list[dict[str, str]]:
    problems: list[dict[str, str]] = []
    for key, row in rows:
        stored = await stored_rows.row(kind, key)
        problems.extend(
            {"source_id": source_id, "target": kind.value, "field": name}
            for name in differing_fields(row, stored)
        )
    return problems


def cleanup(databases: MigrationDatabases) -> UnsetMovedFields:
    """`004`: unset the three arrays on legacy messages whose parts 002 moved."""
    return UnsetMovedFields(
        migration_id=CLEANUP_ID,
        description="unset attachments/toolCalls/partialToolCalls on legacy messages",
        after=ID,
        source=Target(databases.legacy, "messages"),
        fields=ARRAYS,
        migrated_mark=SOURCE_MARK,
    )
