"""The scheduler's Mongo repositories: records in, records out, on a session bound at build time.

`MongoSchedulerWork` builds them on its transaction's session; outside any event (the tick's
lease, due scan and run log) they are built with none. Documents keep the field names they have
always had, so data written before these repositories reads back unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from dataclasses import asdict, fields
from datetime import datetime
from typing import Final

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from services.scheduler.domain.rules import Claim, Counters, Kind, ProactiveState
from services.scheduler.records import (
    DEFAULT_TIMEZONE,
    LatestClaim,
    ProactiveRecord,
    TickReport,
    TickRun,
)
from shared.mongo import Database, Document, IndexDeclarations

PROACTIVE_STATE = "proactive_state"
LEASES = "scheduler_leases"
RUNS = "scheduler_runs"

SCHEDULER_INDEXES: IndexDeclarations = {
    PROACTIVE_STATE: [
        IndexModel([("next_due_at", ASCENDING)], name="due", sparse=True),
        IndexModel([("phone", ASCENDING)], name="phone"),
    ],
    RUNS: [
        IndexModel([("started_at", ASCENDING)], name="runs_ttl", expireAfterSeconds=14 * 86_400)
    ],
}

# The rules' facts, stored as top-level fields of the same names (`_id` holds the user id).
_FACTS: Final = tuple(field.name for field in fields(ProactiveState) if field.name != "user_id")
# Read for a document that lacks them (written before the field existed, or a placeholder).
_MISSING_FACTS: Final[Document] = {"journey_phase": "onboarding", "has_access": False}


def _claim_document(latest: LatestClaim) -> Document:
    taken = latest.taken
    return {
        "key": taken.key,
        "base_key": taken.base_key,
        "kind": taken.kind.value,
        "stage": taken.stage,
        "at": taken.at,
        "crisis_at": taken.crisis_at,
        "before": asdict(taken.before),
        "released_at": latest.released_at,
        "deferral_reason": latest.deferral_reason,
    }


def _claim_record(document: Document) -> LatestClaim:
    taken = Claim(
        key=document["key"],
        base_key=document["base_key"],
        kind=Kind(document["kind"]),
        stage=document["stage"],
        at=document["at"],
        crisis_at=document.get("crisis_at"),
        before=Counters(**document["before"]),
    )
    return LatestClaim(taken, document.get("released_at"), document.get("deferral_reason"))


def state_document(record: ProactiveRecord) -> Document:
    """`record` as stored, but for its revision, which only `save` writes (a document inserted
    as is, such as a benchmark's population seeded in bulk, is at revision 0)."""
    state = record.state
    return {
        "_id": record.user_id,
        "phone": record.phone,
        "next_due_at": record.next_due_at,
        "profile_version": record.profile_version,
        "opt_out_changed_at": record.opt_out_changed_at,
        "access_changed_at": record.access_changed_at,
        "claim": None if record.claim is None else _claim_document(record.claim),
        "churned_at": record.churned_at,
        **{name: getattr(state, name) for name in _FACTS},
    }


def _state_record(document: Document) -> ProactiveRecord:
    facts = {**_MISSING_FACTS, **{name: document[name] for name in _FACTS if name in document}}
    facts["timezone"] = document.get("timezone") or DEFAULT_TIMEZONE
    claim = document.get("claim")
    return ProactiveRecord(
        state=ProactiveState(user_id=document["_id"], **facts),
        phone=document["phone"],
        revision=document.get("revision") or 0,
        next_due_at=document.get("next_due_at"),
        profile_version=document.get("profile_version", 0),
        opt_out_changed_at=document.get("opt_out_changed_at"),
        access_changed_at=document.get("access_changed_at"),
        claim=None if claim is None else _claim_record(claim),
        churned_at=document.get("churned_at"),
    )


def _at_revision(record: ProactiveRecord) -> Document:
    """The compare-and-set filter: the document as `record` read it. Revision 0 is a document
    that was never saved with one, i.e. none at all (or one from before revisions)."""
    return {"_id": record.user_id, "revision": record.revision or None}


class MongoProactiveStates:
    def __init__(self, db: Database, session: AsyncClientSession | None) -> None:
        self._collection = db[PROACTIVE_STATE]
        self._session = session

    async def get(self, user_id: str) -> ProactiveRecord | None:
        document = await self._collection.find_one({"_id": user_id}, session=self._session)
        return None if document is None else _state_record(document)

    async def get_many(self, user_ids: Collection[str]) -> dict[str, ProactiveRecord]:
        if not user_ids:
            return {}
        # `$in` on `_id` is an index lookup on SecantusDB too; the limit closes the cursor with
        # its first batch (no `getMore` or `killCursors`).
        cursor = self._collection.find(
            {"_id": {"$in": list(user_ids)}}, limit=len(user_ids), session=self._session
        )
        return {document["_id"]: _state_record(document) async for document in cursor}

    async def with_phone(self, phone: str) -> list[ProactiveRecord]:
        cursor = self._collection.find({"phone": phone}, session=self._session)
        return [_state_record(document) async for document in cursor]

    async def due(self, now: datetime, limit: int) -> list[ProactiveRecord]:
        cursor = (
            self._collection.find({"next_due_at": {"$lte": now}}, session=self._session)
            .sort("next_due_at", ASCENDING)
            .limit(limit)
        )
        return [_state_record(document) async for document in cursor]

    async def save(self, record: ProactiveRecord) -> bool:
        document = {**state_document(record), "revision": record.revision + 1}
        try:
            # A never-saved record is inserted by the upsert; if one was saved meanwhile, the
            # filter misses it and the insert hits its `_id`.
            result = await self._collection.replace_one(
                _at_revision(record), document, upsert=record.revision == 0, session=self._session
            )
        except DuplicateKeyError:
            return False
        return result.matched_count == 1 or result.upserted_id is not None

    async def set_next_due(self, record: ProactiveRecord, next_due_at: datetime | None) -> bool:
        result = await self._collection.update_one(
            _at_revision(record), {"$set": {"next_due_at": next_due_at}}, session=self._session
        )
        return result.matched_count == 1

    async def delete(self, user_id: str) -> None:
        await self._collection.delete_one({"_id": user_id}, session=self._session)


class MongoTickLeases:
    def __init__(self, db: Database) -> None:
        self._collection = db[LEASES]

    async def take(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        # The lease document exists before anyone competes for it, so taking it is one
        # conditional update (an upsert racing another replica's would raise instead).
        with contextlib.suppress(DuplicateKeyError):  # created by another replica meanwhile
            await self._collection.update_one(
                {"_id": name}, {"$setOnInsert": {"holder": None, "until": now}}, upsert=True
            )
        result = await self._collection.update_one(
            {"_id": name, "$or": [{"until": {"$lte": now}}, {"holder": holder}]},
            {"$set": {"holder": holder, "until": until}},
        )
        return result.matched_count == 1


class MongoTickRuns:
    def __init__(self, db: Database) -> None:
        self._collection = db[RUNS]

    async def record(self, run: TickRun) -> None:
        await self._collection.insert_one(
            {"started_at": run.started_at, "holder": run.holder, **asdict(run.report)}
        )

    async def latest(self) -> TickRun | None:
        document = await self._collection.find_one(sort=[("started_at", -1), ("_id", -1)])
        if document is None:
            return None
        counts = {field.name: document.get(field.name, 0) for field in fields(TickReport)}
        return TickRun(document["started_at"], document["holder"], TickReport(**counts))
