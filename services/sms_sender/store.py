"""The sender's collections and every write it makes to them.

`outbound_messages` (one row per idempotency key) is the durable record and the work list of
sends; `sms_recipients` is the sender's read model of opt-outs plus its per-recipient send log
for the cap. Status writes are filtered by the statuses they may replace, so no write ever moves
a send backwards. The conversation's view of each SMS is the SMS worker's; it follows the
`sms.send.updated` events the sender publishes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Final

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from domain import send_status
from shared.mongo import Database, Document, IndexDeclarations, Session

OUTBOUND_MESSAGES: Final = "outbound_messages"
SMS_RECIPIENTS: Final = "sms_recipients"
# A recipient row created before any opt-out event is older than every real change.
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
RETRIES_EXHAUSTED: Final = "retries_exhausted"
_HISTORY_LIMIT: Final = 50

Collection = AsyncCollection[Document]

# What a claim compares before taking a row; every claim changes `status` and `attempts`.
_CLAIM_STATE: Final = ("status", "attempts", "claim", "next_attempt_at", "lease_until")


# When a row becomes a sender's to take, by status: a retry whose time has come, then a send
# whose holder's lease ran out (the poller's query and the claim's check both read this).
_DUE_AT: Final = {send_status.PENDING: "next_attempt_at", send_status.SENDING: "lease_until"}


def _due(row: Document, now: datetime) -> bool:
    due_at = _DUE_AT.get(row["status"])
    moment = row.get(due_at) if due_at else None
    return moment is not None and moment <= now


def sender_indexes() -> IndexDeclarations:
    return {
        OUTBOUND_MESSAGES: [
            IndexModel([("status", ASCENDING), ("next_attempt_at", ASCENDING)], name="due_sends"),
            IndexModel([("status", ASCENDING), ("lease_until", ASCENDING)], name="leases"),
            IndexModel([("provider_sid", ASCENDING)], name="provider_sid", sparse=True),
        ]
    }


class OutboundStore:
    """`outbound_messages`: one row per requested send."""

    def __init__(self, outbound: Collection) -> None:
        self._outbound = outbound

    @classmethod
    def of(cls, db: Database) -> OutboundStore:
        return cls(db[OUTBOUND_MESSAGES])

    # -- requests ----------------------------------------------------------------------------

    async def record_request(self, row: Document, session: Session) -> bool:
        """Insert the row unless it exists: a repeated request changes nothing. True when the
        row is new."""
        result = await self._outbound.update_one(
            {"_id": row["_id"]},
            {"$setOnInsert": {k: v for k, v in row.items() if k != "_id"}},
            upsert=True,
            session=session,
        )
        return result.upserted_id is not None

    async def reopen_exhausted(
        self, key: str, now: datetime, session: Session = None
    ) -> Document | None:
        """A replayed request for a send that ran out of retries starts it over (an operator's
        retry, the one move back a send allows); returns the reopened row, None if it was not
        such a send."""
        result = await self._outbound.update_one(
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
            session=session,
        )
        if result.modified_count != 1:
            return None
        return await self._outbound.find_one({"_id": key}, session=session)

    # -- claims --------------------------------------------------------------------------------

    async def due_keys(self, now: datetime, limit: int) -> list[str]:
        """Retries whose time has come, then sends whose holder's lease ran out."""
        keys: list[str] = []
        for status, due_at in _DUE_AT.items():
            query = {"status": status, due_at: {"$lte": now}}
            cursor = self._outbound.find(query, {"_id": 1}).limit(limit - len(keys))
            keys.extend([row["_id"] async for row in cursor])
            if len(keys) >= limit:
                break
        return keys

    async def claim(
        self, key: str, token: str, now: datetime, lease_until: datetime
    ) -> Document | None:
        """Take the send if it is due: returns the row as it was before, or None (not ours).

        A read, then an update conditional on exactly the claim state that was read
        (compare-and-set): of several senders racing for one row, exactly one update matches,
        because every claim changes `status` and `attempts`. (One `find_one_and_update` with an
        `$or` would say it in one call, but SecantusDB answers that by scanning the collection.)
        """
        row = await self._outbound.find_one({"_id": key})
        if row is None or not _due(row, now):
            return None
        result = await self._outbound.update_one(
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
        )
        return row if result.modified_count == 1 else None

    async def sids_of_other_sends(self, sids: Iterable[str], key: str) -> set[str]:
        candidates = list(sids)
        if not candidates:
            return set()
        cursor = self._outbound.find(
            {"provider_sid": {"$in": candidates}, "_id": {"$ne": key}}, {"provider_sid": 1}
        )
        return {row["provider_sid"] async for row in cursor}

    # -- outcomes ----------------------------------------------------------------------------

    async def finish(
        self,
        key: str,
        token: str,
        status: str,
        now: datetime,
        fields: Document,
        history: Document,
        session: Session,
    ) -> Document | None:
        """Record the claimed send's outcome and release the claim; the row as it is after, or
        None when the claim was lost."""
        result = await self._outbound.update_one(
            {"_id": key, "claim": token},
            {
                "$set": {**fields, "status": status, "updated_at": now},
                "$unset": {"claim": "", "lease_until": "", "next_attempt_at": ""},
                "$push": {"history": {"$each": [history], "$slice": -_HISTORY_LIMIT}},
            },
            session=session,
        )
        if result.matched_count != 1:
            return None
        return await self._outbound.find_one({"_id": key}, session=session)

    async def release_for_retry(
        self,
        key: str,
        token: str,
        now: datetime,
        next_attempt_at: datetime,
        in_doubt_since: datetime | None,
        fields: Document,
        history: Document,
    ) -> None:
        update: dict[str, Any] = {
            "$set": {
                **fields,
                "status": send_status.PENDING,
                "next_attempt_at": next_attempt_at,
                "updated_at": now,
            },
            "$unset": {"claim": "", "lease_until": ""},
            "$push": {"history": {"$each": [history], "$slice": -_HISTORY_LIMIT}},
        }
        if in_doubt_since is not None:
            update["$min"] = {"in_doubt_since": in_doubt_since}
        await self._outbound.update_one({"_id": key, "claim": token}, update)

    # -- provider status callbacks -------------------------------------------------------------

    async def find_for_status(
        self, key: str | None, provider_sid: str, session: Session
    ) -> Document | None:
        if key is not None:
            row = await self._outbound.find_one({"_id": key}, session=session)
            if row is not None:
                return row
        return await self._outbound.find_one({"provider_sid": provider_sid}, session=session)

    async def apply_reported_status(
        self,
        key: str,
        provider_sid: str,
        status: str,
        error_code: int | None,
        now: datetime,
        session: Session,
    ) -> bool:
        """Apply a provider-reported status, forwards only; True when the send's status moved
        (False when it was set aside on a claimed row, or changed nothing).

        A row still claimed (the callback beat the sender's own record) keeps the status aside
        in `reported_status` for the sender to apply; a row given up after exhausted retries
        takes the provider's word that the message went out after all.
        """
        # Filters without `$or` (see shared.mongo.filters): a missing sid is None.
        sid_matches = {"provider_sid": {"$in": [None, provider_sid]}}
        fields: Document = {"provider_sid": provider_sid, "updated_at": now}
        if error_code is not None:
            fields["error_code"] = error_code
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
            result = await self._outbound.update_one(
                {"_id": key, **sid_matches, **replaceable},
                {"$set": {**fields, "status": status}, "$unset": {"reason": ""}},
                session=session,
            )
            moved = moved or result.modified_count == 1
        await self._outbound.update_one(
            {
                "_id": key,
                "status": {"$in": [send_status.PENDING, send_status.SENDING]},
                "reported_status": {"$in": [None, *send_status.below(status)]},
                **sid_matches,
            },
            {"$set": {**fields, "reported_status": status}},
            session=session,
        )
        return moved


class Gate(Enum):
    OPEN = "open"
    OPTED_OUT = "opted_out"
    SEND_CAP = "send_cap"


@dataclass(frozen=True)
class CapPolicy:
    limit: int
    window: timedelta


class RecipientStore:
    """`sms_recipients`: opt-out state (fed by `sms.optout.changed`) and recent send times."""

    def __init__(self, recipients: Collection) -> None:
        self._recipients = recipients

    @classmethod
    def of(cls, db: Database) -> RecipientStore:
        return cls(db[SMS_RECIPIENTS])

    async def _ensure(self, phone: str, session: Session) -> None:
        try:
            await self._recipients.update_one(
                {"_id": phone},
                {"$setOnInsert": {"opted_out": False, "changed_at": _EPOCH}},
                upsert=True,
                session=session,
            )
        except DuplicateKeyError:
            # A concurrent upsert created the row first: it exists, which is all we need. In a
            # transaction the error has aborted it, so it must reach the transaction's runner.
            if session is not None:
                raise

    async def apply_opt_out(
        self, phone: str, opted_out: bool, changed_at: datetime, source: str, session: Session
    ) -> bool:
        """Apply a change only if it is newer than the one the row holds (events reorder)."""
        await self._ensure(phone, session)
        result = await self._recipients.update_one(
            {"_id": phone, "changed_at": {"$lt": changed_at}},
            {"$set": {"opted_out": opted_out, "changed_at": changed_at, "source": source}},
            session=session,
        )
        return result.modified_count == 1

    async def opted_out(self, phone: str) -> bool:
        row = await self._recipients.find_one({"_id": phone}, {"opted_out": 1})
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
        result = await self._recipients.update_one(condition, log_send)
        if result.matched_count == 1:
            return Gate.OPEN
        # No row matched: the number may be new. Create its row (a no-op when it exists, also
        # when another send created it a moment ago) and try once more; only a row that exists
        # and still refuses the slot is an opt-out or a reached cap. Deciding from a row a
        # concurrent first send had just created would turn a free slot into "send_cap".
        await self._ensure(phone, None)
        result = await self._recipients.update_one(condition, log_send)
        if result.matched_count == 1:
            return Gate.OPEN
        row = await self._recipients.find_one({"_id": phone}, {"opted_out": 1})
        opted_out = not compliance and row is not None and bool(row.get("opted_out"))
        return Gate.OPTED_OUT if opted_out else Gate.SEND_CAP
