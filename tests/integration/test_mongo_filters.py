"""The `$or`-free filter shapes select the same documents as the `$or` they replace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.mongo import Database, unset_or_before

pytestmark = pytest.mark.integration

MOMENT = datetime(2026, 3, 8, 10, 0, tzinfo=UTC)


async def test_unset_or_before_matches_what_the_or_matched(db: Database) -> None:
    stamps = {
        "missing": None,
        "null": None,
        "earlier": MOMENT - timedelta(milliseconds=1),
        "same": MOMENT,
        "later": MOMENT + timedelta(days=1),
    }
    await db.things.insert_many(
        [
            {"_id": name} if name == "missing" else {"_id": name, "at": at}
            for name, at in stamps.items()
        ]
    )
    rewritten = {row["_id"] async for row in db.things.find(unset_or_before("at", MOMENT))}
    original = {
        row["_id"] async for row in db.things.find({"$or": [{"at": None}, {"at": {"$lt": MOMENT}}]})
    }
    assert rewritten == original == {"missing", "null", "earlier"}
