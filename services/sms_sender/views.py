"""What other services may read of the sender's data: sends and opt-outs, as records.

The admin (support views, "retry this send", "text this user") reads here and nowhere else in the
sender; it changes nothing here directly: a retry or a message is a new `sms.outbound.requested`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from pymongo import DESCENDING

from services.sms_sender.body import refusal_reason
from services.sms_sender.parking import request_envelope
from services.sms_sender.store import OUTBOUND_MESSAGES, RETRIES_EXHAUSTED, Gate, RecipientStore
from shared.events import Envelope
from shared.events.catalog import SmsOutboundRequested
from shared.mongo import Database, Document

__all__ = ["RETRIES_EXHAUSTED", "SEND_CAP", "Send", "SenderViews", "refusal_reason"]

# Why a send ended `suppressed` because the recipient had too many texts (not an opt-out).
SEND_CAP = Gate.SEND_CAP.value


@dataclass(frozen=True)
class Send:
    """One requested SMS as the sender keeps it."""

    key: str
    to_number: str
    body: str
    kind: str
    user_id: str | None
    compliance: bool
    status: str
    reason: str | None
    error_code: int | None
    error: str | None
    attempts: int
    updated_at: datetime | None
    _row: Document = field(repr=False, compare=False)

    def request(self) -> Envelope[SmsOutboundRequested]:
        """The request this send was recorded from, with its original event id."""
        return request_envelope(self._row)

    @classmethod
    def of(cls, row: Document) -> Send:
        return cls(
            key=row["_id"],
            to_number=row["to_number"],
            body=row.get("body", ""),
            kind=row["kind"],
            user_id=row.get("user_id"),
            compliance=bool(row.get("compliance")),
            status=row["status"],
            reason=row.get("reason"),
            error_code=row.get("error_code"),
            error=row.get("error"),
            attempts=int(row.get("attempts", 0)),
            updated_at=row.get("updated_at"),
            _row=row,
        )


class SenderViews:
    """Read-only queries over the sender's database."""

    # A send's attempt history is the sender's own diagnostics.
    _FIELDS: ClassVar[dict[str, Any]] = {"history": 0}

    def __init__(self, db: Database) -> None:
        self._sends = db[OUTBOUND_MESSAGES]
        self._recipients = RecipientStore.of(db)

    async def send(self, key: str) -> Send | None:
        row = await self._sends.find_one({"_id": key}, self._FIELDS)
        return Send.of(row) if row is not None else None

    async def sends_with_status(self, statuses: tuple[str, ...], *, limit: int) -> list[Send]:
        """The newest sends in any of `statuses`."""
        cursor = (
            self._sends.find({"status": {"$in": list(statuses)}}, self._FIELDS)
            .sort("updated_at", DESCENDING)
            .limit(limit)
        )
        return [Send.of(row) async for row in cursor]

    async def sends_keyed_from(self, prefix: str) -> list[Send]:
        """Every send whose key starts with `prefix` (a retry series)."""
        cursor = self._sends.find({"_id": {"$gte": prefix, "$lt": prefix + "\uffff"}}, self._FIELDS)
        return [Send.of(row) async for row in cursor]

    async def count_by_status(self) -> dict[str, int]:
        cursor = await self._sends.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}])
        return {str(row["_id"]): int(row["n"]) async for row in cursor}

    async def opted_out(self, phone: str) -> bool:
        return await self._recipients.opted_out(phone)
