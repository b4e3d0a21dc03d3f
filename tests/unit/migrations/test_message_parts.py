"""002_normalize_message_parts as a pure function: arrays → rows, partial and complete merged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.migrations import message_parts
from services.migrations.message_parts import (
    SOURCE_MARK,
    NormalizeMessageParts,
    attachment_rows,
    tool_call_rows,
)
from services.migrations.targets import MigrationDatabases
from shared.migrations import DocumentRejected, Target

DBS = MigrationDatabases(legacy="legacy", sms_worker="sms", billing_worker="billing", admin="admin")
NOW = datetime(2026, 11, 21, tzinfo=UTC)


def _call(call_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "toolCallId": call_id,
        "toolName": "find_resources",
        "args": '{"zip": "10001"}',
        **extra,
    }


def _message(**arrays: Any) -> dict[str, Any]:
    return {
        "_id": "m1",
        "userId": "u1",
        "conversationId": "c1",
        "createdAt": 1_750_000_000_000,
        **arrays,
    }


def test_a_call_in_both_arrays_becomes_one_complete_row_and_a_partial_only_call_stays_partial() -> (
    None
):
    rows = tool_call_rows(
        _message(
            toolCalls=[_call("a", result='{"items": 2}')],
            partialToolCalls=[_call("a"), _call("b", args='{"zip": ')],
        )
    )
    by_id = {row["tool_call_id"]: row for row in rows}
    assert set(by_id) == {"a", "b"}
    assert by_id["a"]["is_partial"] is False
    assert by_id["a"]["args"] == {"zip": "10001"}
    assert by_id["a"]["result"] == {"items": 2}
    assert by_id["b"]["is_partial"] is True
    assert by_id["b"]["args"] is None
    assert by_id["b"]["args_raw"] == '{"zip": '


def test_calls_without_ids_get_stable_positional_ids() -> None:
    rows = tool_call_rows(
        _message(toolCalls=[{"toolName": "x"}], partialToolCalls=[{"toolName": "y"}])
    )
    assert [row["tool_call_id"] for row in rows] == ["legacy-c0", "legacy-p0"]


def test_attachments_keep_their_metadata_and_position() -> None:
    (row,) = attachment_rows(
        _message(attachments=[{"type": "image", "mimeType": "image/jpeg", "size": "2048",
                               "storageId": "kg1", "metadata": {"width": 3}}])
    )  # fmt: skip
    assert row["content_type"] == "image/jpeg"
    assert row["size"] == 2048
    assert row["metadata"] == {"width": 3}
    assert row["position"] == 0
    assert row["message_id"] == "m1"
    assert row["user_id"] == "u1"


@pytest.mark.parametrize(
    "arrays", [{"attachments": "corrupted"}, {"toolCalls": [1, 2]}, {"partialToolCalls": {"a": 1}}]
)
def test_malformed_arrays_reject_the_whole_message(arrays: dict[str, Any]) -> None:
    with pytest.raises(DocumentRejected):
        NormalizeMessageParts(DBS, now=NOW).plan(_message(**arrays))


def test_plan_keys_rows_by_message_id_and_marks_the_source_last() -> None:
    migration = NormalizeMessageParts(DBS, now=NOW)
    plan = migration.plan(_message(attachments=[{"type": "file"}], toolCalls=[_call("a")]))
    # The SMS worker's repositories get typed rows; only the legacy source is written by name.
    assert [row.id for row in plan.writes[migration.attachments]] == ["m1:0"]
    assert [row.id for row in plan.writes[migration.tool_calls]] == ["m1:a"]
    assert (migration.attachments.database, migration.tool_calls.database) == ("sms", "sms")
    assert [d for d in plan.writes if isinstance(d, Target)] == [Target("legacy", "messages")]
    assert migration.targets()[-1] == Target("legacy", "messages")
    assert plan.writes[Target("legacy", "messages")][0]._doc == {"$set": {SOURCE_MARK: NOW}}


def test_cleanup_unsets_the_arrays_of_migrated_messages_only() -> None:
    cleanup = message_parts.cleanup(DBS)
    (write,) = cleanup.plan({"_id": "m1", "toolCalls": [], "attachments": []}).writes[
        Target("legacy", "messages")
    ]
    assert write._doc == {"$unset": {"toolCalls": "", "attachments": ""}}
    assert cleanup.source_query() == {SOURCE_MARK: {"$exists": True}}
