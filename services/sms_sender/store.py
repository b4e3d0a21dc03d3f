"""The sender's collections, their indexes, and the Mongo repositories over them.

`outbound_messages` (one row per idempotency key) is the durable record and the work list of
sends; `sms_recipients` is the sender's read model of opt-outs plus its per-recipient send log
for the cap. Each repository is bound to a session when built: the transaction's inside an
event (`unit_of_work.MongoSenderWork`), none for the single conditional writes that must not
wait for a commit (the claim, the send slot, the release for retry), for a recorded outcome
(one write that keeps the event it publishes in the row, `shared.row_outbox`) and for reads
outside any event. Status writes are filtered by the statuses they may replace, so no
write ever moves a send backwards. Documents stay in here; records go in and out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, fields, replace
from datetime import datetime
from typing import Any, Final

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from domain import send_status
from services.sms_sender.records import (
    HISTORY_LIMIT,
    NEVER_CHANGED,
    RETRIES_EXHAUSTED,
    Attempt,
    CapPolicy,
    Claim,
    Gate,
    OptOut,
    Recipient,
    SendOutcome,
    SendRecord,
    finished,
    with_outcome,
)
from shared.events import Envelope
from shared.mongo import Database, Document, IndexDeclarations
from shared.row_outbox import RowOutbox, pending_events_index

__all__ = [
    "OUTBOUND_MESSAGES",
    "RETRIES_EXHAUSTED",
    "SMS_RECIPIENTS",
    "MongoRecipients",
    "MongoSends",
    "sender_indexes",
]

OUTBOUND_MESSAGES: Final = "outbound_messages"
SMS_RECIPIENTS: Final = "sms_recipients"

# What a claim compares before taking a row; every claim changes `status` and `attempts`.
_CLAIM_STATE: Final = ("status", "attempts", "claim", "next_attempt_at", "lease_until")
# When a row becomes a sender's to take, by status: a retry whose time has come, then a send
# whose holder's lease ran out (the poller's query and the claim's check both read this).
_DUE_AT: Final = {send_status.PENDING: "next_attempt_at", send_status.SENDING: "lease_until"}
# A send's attempt history is the sender's own diagnostics, not for other services' reads.
_WITHOUT_HISTORY: Final = {"history": 0}
# What a provider callback writes on a claimed row (`apply_reported_status`).
_SET_ASIDE: Final = ("reported_status", "provider_sid", "error_code")
_SEND_FIELDS: Final = tuple(f.name for f in fields(SendRecord) if f.name not in ("key", "history"))


def sender_indexes() -> IndexDeclarations:
    return {
        OUTBOUND_MESSAGES: [
            IndexModel([("status", ASCENDING), ("next_attempt_at", ASCENDING)], name="due_sends"),
            IndexModel([("status", ASCENDING), ("lease_until", ASCENDING)], name="leases"),
            IndexModel([("provider_sid", ASCENDING)], name="provider_sid", sparse=True),
            # Rows whose `sms.send.updated` has not been published and removed yet.
            pending_events_index(),
        ]
    }


def _due(row: Document, now: datetime) -> bool:
    due_at = _DUE_AT.get(row["status"])
    moment = row.get(due_at) if due_at else None
    return moment is not None and moment <= now


def _present(values: dict[str, Any]) -> Document:
    return {name: value for name, value in values.items() if value is not None}


def _send_document(send: SendRecord) -> Document:
    """The row for a new send; fields it does not have yet are absent, not null."""
    row = _present({name: getattr(send, name) for name in _SEND_FIELDS})
    if send.history:
        row["history"] = [_present(asdict(entry)) for entry in send.history]
    return {"_id": send.key, **row}


def _send(row: Document) -> SendRecord:
    values: dict[str, Any] = {name: row.get(name) for name in _SEND_FIELDS}
    values["compliance"] = bool(row.get("compliance"))
    values["attempts"] = int(row.get("attempts", 0))
    values["reopened"] = int(row.get("reopened", 0))
    values["body"] = row.get("body", "")
    history = tuple(
        Attempt(**{name: entry.get(name) for name in Attempt.__dataclass_fields__})
        for entry in row.get("history", ())
    )
    return SendRecord(key=row["_id"], history=history, **values)


def _outcome_fields(outcome: SendOutcome, claim: Claim) -> tuple[Document, Document]:
    """`$set` and `$min` of an outcome: what it says, plus the claim's place under the cap."""
    changes = _present(
        {
            "reason": outcome.reason,
            "provider_sid": outcome.provider_sid,
            "transport": outcome.transport,
            "sent_at": outcome.sent_at,
            "cap_slot_at": claim.cap_slot_at,
        }
    )
    if outcome.error is not None:
        changes["error"] = outcome.error
        changes["error_code"] = outcome.error_code
    earliest = _present({"in_doubt_since": outcome.in_doubt_since})
    return {**changes, "status": outcome.status, "updated_at": outcome.at}, earliest


class MongoSends:
    """`outbound_messages`: one row per requested send."""

    def __init__(
        self,
        db: Database,
        session: AsyncClientSession | None = None,
        *,
        events: RowOutbox | None = None,
    ) -> None:
        """`events`: where outcomes keep the events they publish (the dispatcher's repository,
        without a session, has it; others only read, record and apply statuses)."""
        self._collection = db[OUTBOUND_MESSAGES]
        self._session = session
        self._events = events

    async def get(self, key: str) -> SendRecord | None:
        row = await self._collection.find_one({"_id": key}, session=self._session)
        return _send(row) if row is not None else None

    # -- requests ----------------------------------------------------------------------------

    async def record(self, send: SendRecord) -> bool:
        """Insert the send unless its key exists: a repeated request changes nothing. True
        when the send is new."""
        row = _send_document(send)
        result = await self._collection.update_one(
            {"_id": send.key},
            {"$setOnInsert": {k: v for k, v in row.items() if k != "_id"}},
            upsert=True,
            session=self._session,
        )
        return result.upserted_id is not None

    async def reopen_exhausted(self, key: str, now: datetime) -> SendRecord | None:
        """A replayed request for a send that ran out of retries starts it over (an operator's
        retry, the one move back a send allows); returns the reopened send, None if it was not
        such a send."""
        result = await self._collection.update_one(
            {"_id": key, "status": send_status.FAILED, "reason": RETRIES_EXHAUSTED},
            {
                "$set": {
                    "status": send_status.PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "updated_at": now,
                },
                "$unset": {"reason": ""},
                "$inc": {"reopened": 1},
            },
            session=self._session,
        )
        return await self.get(key) if result.modified_count == 1 else None

    # -- claims (single conditional writes, never in a transaction) ------------------------------

    async def due_keys(self, now: datetime, limit: int) -> list[str]:
        """Retries whose time has come, then sends whose holder's lease ran out."""
        keys: list[str] = []
        for status, due_at in _DUE_AT.items():
            query = {"status": status, due_at: {"$lte": now}}
            cursor = self._collection.find(query, {"_id": 1}, session=self._session)
            keys.extend([row["_id"] async for row in cursor.limit(limit - len(keys))])
            if len(keys) >= limit:
                break
        return keys

    async def claim(
        self, key: str, token: str, now: datetime, lease_until: datetime
    ) -> Claim | None:
        """Take the send if it is due: the claim (with the send as it was before), or None
        (not ours).

        A read, then an update conditional on exactly the claim state that was read
        (compare-and-set): of several senders racing for one row, exactly one update matches,
        because every claim changes `status` and `attempts`. (One `find_one_and_update` with an
        `$or` would say it in one call, but SecantusDB answers that by scanning the collection.)
        """
        row = await self._collection.find_one({"_id": key}, session=self._session)
        if row is None or not _due(row, now):
            return None
        result = await self._collection.update_one(
            {"_id": key, **{field: row.get(field) for field in _CLAIM_STATE}},
            {
                "$set": {
                    "status": send_status.SENDING,
                    "claim": token,
                    "lease_until": lease_until,
                    "attempt_started_at": now,
                    "updated_at": now,
                },
                "$inc": {"attempts": 1},
            },
            session=self._session,
        )
        if result.modified_count != 1:
            return None
        before = _send(row)
        return Claim(token, before, now, before.cap_slot_at)

    async def sids_of_other_sends(self, sids: Iterable[str], key: str) -> set[str]:
        """Which of these provider messages already belong to a send other than `key`."""
        candidates = list(sids)
        if not candidates:
            return set()
        cursor = self._collection.find(
            {"provider_sid": {"$in": candidates}, "_id": {"$ne": key}},
            {"provider_sid": 1},
            session=self._session,
        )
        return {row["provider_sid"] async for row in cursor}

    async def release_for_retry(
        self, claim: Claim, outcome: SendOutcome, next_attempt_at: datetime
    ) -> bool:
        """Put the claimed send back to `pending`, due at `next_attempt_at`; False when the
        claim was lost (another holder's outcome stands)."""
        changes, earliest = _outcome_fields(outcome, claim)
        update: Document = {
            "$set": {**changes, "status": send_status.PENDING, "next_attempt_at": next_attempt_at},
            "$unset": {"claim": "", "lease_until": ""},
            "$push": {"history": self._history(outcome.attempt)},
        }
        if earliest:
            update["$min"] = earliest
        result = await self._collection.update_one(
            {"_id": claim.key, "claim": claim.token}, update, session=self._session
        )
        return result.matched_count == 1

    # -- outcomes (one write with the events they publish, never in a transaction) -----------

    async def finish(
        self,
        claim: Claim,
        outcome: SendOutcome,
        events: Callable[[SendRecord], Sequence[Envelope[Any]]],
    ) -> SendRecord | None:
        """Record the claimed send's outcome, release the claim and keep `events(after)` (what
        the outcome publishes, from the send as it is after) in the row, in one write; publish
        them right after (`shared.row_outbox`). The send as it is after, or None when the claim
        was lost (nothing written, nothing published).

        Usually one command: the update also requires the status the claim saw set aside by a
        provider callback (`reported_status`), the one field anybody but the holder writes on
        a claimed row, so when it matches the row is what the claim and the outcome made it
        (`records.finished`). A callback that arrived meanwhile costs a read and another
        update, conditional on what the callback wrote, so the events describe the row as the
        write leaves it."""
        row_events = self._row_events()
        changes, earliest = _outcome_fields(outcome, claim)
        held = {"_id": claim.key, "claim": claim.token}
        seen: Document = {"reported_status": claim.send.reported_status}
        outcome_update: Document = {
            "$set": changes,
            "$unset": {"claim": "", "lease_until": "", "next_attempt_at": ""},
            "$push": {"history": self._history(outcome.attempt)},
        }
        if earliest:
            outcome_update["$min"] = earliest
        after = finished(claim, outcome)
        while True:
            update, entries = row_events.pushing(outcome_update, events(after))
            if await row_events.update_one({**held, **seen}, update):
                await row_events.publish(claim.key, entries)
                return after
            row = await self._collection.find_one({"_id": claim.key}, session=self._session)
            if row is None or row.get("claim") != claim.token:
                return None
            seen = {field: row.get(field) for field in _SET_ASIDE}
            after = replace(with_outcome(_send(row), claim, outcome), next_attempt_at=None)

    def _row_events(self) -> RowOutbox:
        if self._events is None or self._session is not None:
            raise RuntimeError("outcomes are written by the session-less repository with events")
        return self._events

    # -- provider status callbacks -------------------------------------------------------------

    async def find_for_status(self, key: str | None, provider_sid: str) -> SendRecord | None:
        """The send a status callback is about: by its key when the callback carries one, else
        by the provider's message sid."""
        if key is not None and (send := await self.get(key)) is not None:
            return send
        row = await self._collection.find_one({"provider_sid": provider_sid}, session=self._session)
        return _send(row) if row is not None else None

    async def apply_reported_status(
        self, key: str, provider_sid: str, status: str, error_code: int | None, now: datetime
    ) -> bool:
        """Apply a provider-reported status, forwards only; True when the send's status moved
        (False when it was set aside on a claimed row, or changed nothing).

        A row still claimed (the callback beat the sender's own record) keeps the status aside
        in `reported_status` for the sender to apply; a row given up after exhausted retries
        takes the provider's word that the message went out after all.
        """
        # Filters without `$or` (see shared.mongo.filters): a missing sid is None.
        sid_matches = {"provider_sid": {"$in": [None, provider_sid]}}
        changes: Document = {"provider_sid": provider_sid, "updated_at": now}
        if error_code is not None:
            changes["error_code"] = error_code
        forwards = [
            s
            for s in send_status.below(status)
            if send_status.rank(s) >= send_status.rank(send_status.SENT)
        ]
        moved = False
        for replaceable in (
            {"status": {"$in": forwards}},
            {"status": send_status.FAILED, "reason": RETRIES_EXHAUSTED},
        ):
            result = await self._collection.update_one(
                {"_id": key, **sid_matches, **replaceable},
                {"$set": {**changes, "status": status}, "$unset": {"reason": ""}},
                session=self._session,
            )
            moved = moved or result.modified_count == 1
        await self._collection.update_one(
            {
                "_id": key,
                "status": {"$in": [send_status.PENDING, send_status.SENDING]},
                "reported_status": {"$in": [None, *send_status.below(status)]},
                **sid_matches,
            },
            {"$set": {**changes, "reported_status": status}},
            session=self._session,
        )
        return moved

    # -- reads for other services (views.py) ---------------------------------------------------

    async def with_status(self, statuses: Sequence[str], *, limit: int) -> list[SendRecord]:
        """The newest sends in any of `statuses`, without their history."""
        cursor = (
            self._collection.find(
                {"status": {"$in": list(statuses)}}, _WITHOUT_HISTORY, session=self._session
            )
            .sort("updated_at", DESCENDING)
            .limit(limit)
        )
        return [_send(row) async for row in cursor]

    async def keyed_from(self, prefix: str) -> list[SendRecord]:
        """Every send whose key starts with `prefix` (a retry series), without history."""
        cursor = self._collection.find(
            {"_id": {"$gte": prefix, "$lt": prefix + "\uffff"}},
            _WITHOUT_HISTORY,
            session=self._session,
        )
        return [_send(row) async for row in cursor]

    async def count_by_status(self) -> dict[str, int]:
        cursor = await self._collection.aggregate(
            [{"$group": {"_id": "$status", "n": {"$sum": 1}}}], session=self._session
        )
        return {str(row["_id"]): int(row["n"]) async for row in cursor}

    @staticmethod
    def _history(attempt: Attempt) -> Document:
        return {"$each": [_present(asdict(attempt))], "$slice": -HISTORY_LIMIT}


def _recipient(row: Document) -> Recipient:
    return Recipient(
        phone=row["_id"],
        opted_out=bool(row.get("opted_out")),
        changed_at=row.get("changed_at", NEVER_CHANGED),
        source=row.get("source"),
        send_times=tuple(row.get("send_times", ())),
    )


class MongoRecipients:
    """`sms_recipients`: opt-out state (fed by `sms.optout.changed`) and recent send times."""

    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._collection = db[SMS_RECIPIENTS]
        self._session = session

    async def get(self, phone: str) -> Recipient | None:
        row = await self._collection.find_one({"_id": phone}, session=self._session)
        return _recipient(row) if row is not None else None

    async def apply_opt_out(self, change: OptOut) -> bool:
        """Apply a change only if it is newer than the one the row holds (events reorder)."""
        await self._ensure(change.phone)
        result = await self._collection.update_one(
            {"_id": change.phone, "changed_at": {"$lt": change.changed_at}},
            {
                "$set": {
                    "opted_out": change.opted_out,
                    "changed_at": change.changed_at,
                    "source": change.source,
                }
            },
            session=self._session,
        )
        return result.modified_count == 1

    async def opted_out(self, phone: str) -> bool:
        row = await self._collection.find_one(
            {"_id": phone}, {"opted_out": 1}, session=self._session
        )
        return bool(row and row.get("opted_out"))

    async def take_send_slot(
        self,
        phone: str,
        now: datetime,
        caps: Sequence[CapPolicy],
        *,
        compliance: bool,
        capped: bool,
    ) -> Gate:
        """The last check before a send, atomic on the recipient's row: not opted out (unless a
        compliance confirmation) and, when `capped`, under every cap; the send is logged either
        way.

        The row keeps the newest send times (as many as the largest cap), newest first; a cap
        is reached when its `limit`-th newest send is still inside its window.
        """
        condition: Document = {"_id": phone}
        if not compliance:
            condition["opted_out"] = False
        if capped:
            for cap in caps:
                condition[f"send_times.{cap.limit - 1}"] = {"$not": {"$gte": now - cap.window}}
        kept = max((cap.limit for cap in caps), default=1)
        log_send = {"$push": {"send_times": {"$each": [now], "$position": 0, "$slice": kept}}}
        if self._session is None:
            # One command whether the number's row exists or not (`_take_or_create`).
            if await self._take_or_create(condition, log_send):
                return Gate.OPEN
        else:
            result = await self._collection.update_one(condition, log_send, session=self._session)
            if result.matched_count == 1:
                return Gate.OPEN
            await self._ensure(phone)
        # The row exists and refused the slot, or a concurrent first send created it a moment
        # ago: once more decides. Only a row that exists and still refuses is an opt-out or a
        # reached cap; deciding from the race would turn a free slot into "send_cap".
        result = await self._collection.update_one(condition, log_send, session=self._session)
        if result.matched_count == 1:
            return Gate.OPEN
        opted_out = not compliance and await self.opted_out(phone)
        return Gate.OPTED_OUT if opted_out else Gate.SEND_CAP

    async def _take_or_create(self, condition: Document, log_send: Document) -> bool:
        """The slot in one command, whether the number's row exists (and lets the send
        through) or not yet (created with the send logged, as `_ensure` would make it); False
        when a row exists and refuses, which the upsert finds as the row's key taken. Outside
        a transaction only: there the key error would abort it."""
        on_insert: Document = {"changed_at": NEVER_CHANGED}
        if "opted_out" not in condition:
            on_insert["opted_out"] = False
        try:
            await self._collection.update_one(
                condition, {**log_send, "$setOnInsert": on_insert}, upsert=True
            )
        except DuplicateKeyError:
            return False
        return True

    async def _ensure(self, phone: str) -> None:
        try:
            await self._collection.update_one(
                {"_id": phone},
                {"$setOnInsert": {"opted_out": False, "changed_at": NEVER_CHANGED}},
                upsert=True,
                session=self._session,
            )
        except DuplicateKeyError:
            # A concurrent upsert created the row first: it exists, which is all we need. In a
            # transaction the error has aborted it, so it must reach the transaction's runner.
            if self._session is not None:
                raise
