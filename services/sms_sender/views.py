"""What other services may read of the sender's data: sends and opt-outs, as records.

The admin (support views, "retry this send", "text this user") reads here and nowhere else in the
sender; it changes nothing here directly: a retry or a message is a new `sms.outbound.requested`.
"""

from __future__ import annotations

from dataclasses import replace

from services.sms_sender.domain.body import refusal_reason
from services.sms_sender.records import RETRIES_EXHAUSTED, Gate
from services.sms_sender.records import SendRecord as Send
from services.sms_sender.store import MongoRecipients, MongoSends
from shared.mongo import Database

__all__ = ["RETRIES_EXHAUSTED", "SEND_CAP", "Send", "SenderViews", "refusal_reason"]

# Why a send ended `suppressed` because the recipient had too many texts (not an opt-out).
SEND_CAP = Gate.SEND_CAP.value


class SenderViews:
    """Read-only queries over the sender's database (repositories without a session; a send's
    attempt history, the sender's own diagnostics, is left out)."""

    def __init__(self, db: Database) -> None:
        self._sends = MongoSends(db)
        self._recipients = MongoRecipients(db)

    async def send(self, key: str) -> Send | None:
        """The send with `key` (its `request()` is the original event, for a retry)."""
        send = await self._sends.get(key)
        return send if send is None else replace(send, history=())

    async def sends_with_status(self, statuses: tuple[str, ...], *, limit: int) -> list[Send]:
        """The newest sends in any of `statuses`."""
        return await self._sends.with_status(statuses, limit=limit)

    async def sends_keyed_from(self, prefix: str) -> list[Send]:
        """Every send whose key starts with `prefix` (a retry series)."""
        return await self._sends.keyed_from(prefix)

    async def count_by_status(self) -> dict[str, int]:
        return await self._sends.count_by_status()

    async def opted_out(self, phone: str) -> bool:
        return await self._recipients.opted_out(phone)
