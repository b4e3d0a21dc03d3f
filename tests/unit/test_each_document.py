"""Writes to several documents are single-document updates in one bulk write, never a
multi-document update (`shared/mongo/each_document.py` says why: it wedged SecantusDB)."""

from __future__ import annotations

import re
from pathlib import Path

from pymongo import UpdateOne

from shared.mongo.each_document import each_document

ROOT = Path(__file__).resolve().parents[2]
MULTI_UPDATE = re.compile(r"\.update_many\(|\bUpdateMany\(")


def test_each_document_is_one_conditional_update_per_id_and_repeats_are_written_once() -> None:
    writes = each_document(["a", "b", "a"], {"status": "pending"}, {"$set": {"status": "sent"}})
    assert writes == [
        UpdateOne({"status": "pending", "_id": "a"}, {"$set": {"status": "sent"}}),
        UpdateOne({"status": "pending", "_id": "b"}, {"$set": {"status": "sent"}}),
    ]


def test_the_id_wins_over_an_id_condition_in_the_query() -> None:
    (write,) = each_document(["a"], {"_id": {"$in": ["x"]}}, {"$set": {"n": 1}})
    assert write == UpdateOne({"_id": "a"}, {"$set": {"n": 1}})


def test_no_service_or_shared_code_sends_a_multi_document_update() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for directory in ("services", "shared")
        for path in sorted((ROOT / directory).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if MULTI_UPDATE.search(line)
    ]
    assert not found, f"use shared.mongo.each_document instead of a multi-update: {found}"
