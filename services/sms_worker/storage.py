"""The SMS worker's collections, their indexes, and every query and write the handlers make.

One document per concern, so a message touches only what it needs: `users` is identity (what a
phone lookup reads), `user_profiles` the slow-changing profile, `conversation_state` the churn
of recent messages. Writes take the caller's session: they belong to the handler's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from services.sms_worker.inbound import Access
from services.sms_worker.responder import HistoryEntry, ToolCallRecord
from services.sms_worker.summary import ConversationWindow, SummaryUpdate
from shared.mongo import Database, Document, IndexDeclarations, unset_or_before

USERS = "users"
PROFILES = "user_profiles"
CONVERSATIONS = "conversation_state"
MESSAGES = "messages"
ATTACHMENTS = "attachments"
TOOL_CALLS = "tool_calls"
ALERTS = "alerts"
ASSESSMENT_RESULTS = "assessment_results"
BILLING_ACCESS = "billing_access"
PROACTIVE_LOG = "proactive_log"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Session = AsyncClientSession | None


class UserCreationRaced(Exception):
    """Creating a user collided with a concurrent creation that is not visible yet (retryable)."""


def sms_worker_indexes() -> IndexDeclarations:
    return {
        USERS: [IndexModel([("phone", ASCENDING)], name="phone_unique", unique=True)],
        PROFILES: [
            IndexModel([("user_id", ASCENDING)], name="user_unique", unique=True),
            IndexModel([("journey_phase", ASCENDING)], name="by_phase"),
            IndexModel(
                [("burnout_band", ASCENDING), ("last_contact_at", ASCENDING)],
                name="by_band_last_contact",
            ),
            IndexModel(
                [("journey_phase", ASCENDING), ("last_contact_at", ASCENDING)],
                name="by_phase_last_contact",
            ),
            IndexModel([("last_proactive_message_at", ASCENDING)], name="by_last_proactive"),
            IndexModel([("last_crisis_event_at", ASCENDING)], name="by_crisis_event"),
        ],
        CONVERSATIONS: [IndexModel([("user_id", ASCENDING)], name="user_unique", unique=True)],
        MESSAGES: [
            IndexModel([("provider_sid", ASCENDING)], name="by_provider_sid"),
            IndexModel([("user_id", ASCENDING), ("created_at", ASCENDING)], name="by_user_time"),
        ],
        ATTACHMENTS: [
            IndexModel([("message_id", ASCENDING)], name="by_message"),
            IndexModel([("user_id", ASCENDING)], name="by_user"),
        ],
        TOOL_CALLS: [
            IndexModel([("message_id", ASCENDING)], name="by_message"),
            IndexModel([("user_id", ASCENDING)], name="by_user"),
        ],
        ALERTS: [
            IndexModel([("user_id", ASCENDING), ("created_at", DESCENDING)], name="by_user_time"),
            IndexModel([("status", ASCENDING), ("created_at", DESCENDING)], name="by_status"),
        ],
        ASSESSMENT_RESULTS: [
            IndexModel([("user_id", ASCENDING), ("completed_at", DESCENDING)], name="by_user_time"),
        ],
        BILLING_ACCESS: [IndexModel([("user_id", ASCENDING)], name="by_user", sparse=True)],
        PROACTIVE_LOG: [
            IndexModel([("user_id", ASCENDING), ("decided_at", DESCENDING)], name="by_user_time"),
            IndexModel(
                [("outcome", ASCENDING), ("reason", ASCENDING), ("decided_at", DESCENDING)],
                name="by_outcome",
            ),
        ],
    }


class SmsStore:
    """Queries and idempotent writes over the SMS worker's database."""

    def __init__(self, db: Database) -> None:
        self._users = db[USERS]
        self._profiles = db[PROFILES]
        self._conversations = db[CONVERSATIONS]
        self._messages = db[MESSAGES]
        self._attachments = db[ATTACHMENTS]
        self._tool_calls = db[TOOL_CALLS]
        self._alerts = db[ALERTS]
        self._results = db[ASSESSMENT_RESULTS]
        self._access = db[BILLING_ACCESS]
        self._proactive_log = db[PROACTIVE_LOG]

    # --- reads -----------------------------------------------------------------------------------

    async def user_by_phone(self, phone: str, session: Session = None) -> Document | None:
        return await self._users.find_one({"phone": phone}, session=session)

    async def profile(self, user_id: str, session: Session = None) -> Document | None:
        return await self._profiles.find_one({"_id": user_id}, session=session)

    async def inbound_count(
        self, user_id: str, since: datetime, until: datetime, *, excluding: str
    ) -> int:
        """Inbound messages of `user_id` in (since, until] that count towards the rate limit."""
        return await self._messages.count_documents(
            {
                "user_id": user_id,
                "created_at": {"$gt": since, "$lte": until},
                "direction": "inbound",
                "rate_exempt": {"$ne": True},
                "_id": {"$ne": excluding},
            }
        )

    async def access(self, phone: str) -> Access:
        row = await self._access.find_one({"_id": phone})
        if row is None:
            return Access(has_access=False)
        return Access(has_access=bool(row.get("has_access")), status=row.get("status"))

    async def conversation(self, user_id: str, limit: int) -> ConversationWindow:
        """The newest `limit` entries of the conversation and its historical summary."""
        row = await self._conversations.find_one(
            {"_id": user_id},
            {
                "recent_messages": {"$slice": -limit},
                "historical_summary": 1,
                "historical_summary_version": 1,
                "historical_summary_through": 1,
            },
        )
        if row is None:
            return ConversationWindow(())
        entries = tuple(
            HistoryEntry(entry["direction"], entry["body"], entry.get("id"))
            for entry in row.get("recent_messages", [])
        )
        return ConversationWindow(
            entries,
            row.get("historical_summary") or None,
            int(row.get("historical_summary_version") or 0),
            row.get("historical_summary_through"),
        )

    async def save_summary(
        self, user_id: str, update: SummaryUpdate, now: datetime, session: Session
    ) -> bool:
        """Store `update` if the summary is still the one it was written from: a replayed or
        raced plan never stores a second one over it."""
        previous = update.version - 1
        current: Any = {"$in": [None, 0]} if previous == 0 else previous
        result = await self._conversations.update_one(
            {"_id": user_id, "historical_summary_version": current},
            {
                "$set": {
                    "historical_summary": update.text,
                    "historical_summary_version": update.version,
                    "historical_summary_through": update.through,
                    "historical_summary_tokens": update.tokens,
                    "historical_summary_updated_at": now,
                    "updated_at": now,
                }
            },
            session=session,
        )
        return result.modified_count == 1

    # --- inbound writes --------------------------------------------------------------------------

    async def record_rejected_inbound(
        self, message_id: str, fields: Mapping[str, Any], now: datetime
    ) -> None:
        """An inbound message we cannot attribute (bad sender); kept for support, then parked."""
        await self._messages.update_one(
            {"_id": message_id},
            {"$setOnInsert": {**fields, "status": "rejected", "created_at": now}},
            upsert=True,
        )

    async def ensure_user(self, phone: str, new_id: str, now: datetime, session: Session) -> str:
        """The id of the user with `phone`, created as `new_id` if there is none.

        An indexed lookup first (almost every message is from a known number), then an upsert:
        not `find_one_and_update`, which SecantusDB runs as a scan of the whole collection.
        """
        user = await self._users.find_one({"phone": phone}, {"_id": 1}, session=session)
        if user is not None:
            return str(user["_id"])
        try:
            await self._users.update_one(
                {"phone": phone},
                {
                    "$setOnInsert": {
                        "_id": new_id,
                        "phone": phone,
                        "email": None,
                        "roles": [],
                        "created_at": now,
                        "updated_at": now,
                    }
                },
                upsert=True,
                session=session,
            )
        except DuplicateKeyError:
            # Two first messages from one number raced to create the user. In a transaction
            # the conflict surfaces as a retried write conflict instead, never here.
            if session is not None:
                raise
        user = await self._users.find_one({"phone": phone}, {"_id": 1}, session=session)
        if user is None:
            raise UserCreationRaced("the user upsert lost a race; the event will be retried")
        return str(user["_id"])

    async def ensure_conversation(
        self, user_id: str, started_at: datetime, now: datetime, session: Session
    ) -> None:
        await self._conversations.update_one(
            {"_id": user_id},
            {
                "$setOnInsert": {
                    "user_id": user_id,
                    "recent_messages": [],
                    "historical_summary": None,
                    "conversation_started_at": started_at,
                    "total_interaction_count": 0,
                    "created_at": now,
                    "updated_at": now,
                }
            },
            upsert=True,
            session=session,
        )

    async def record_inbound(
        self, row: Document, attachments: Sequence[Document], session: Session
    ) -> None:
        message_id = row.pop("_id")
        await self._messages.update_one(
            {"_id": message_id}, {"$setOnInsert": row}, upsert=True, session=session
        )
        for attachment in attachments:
            attachment_id = attachment.pop("_id")
            await self._attachments.update_one(
                {"_id": attachment_id}, {"$setOnInsert": attachment}, upsert=True, session=session
            )

    async def record_alert(self, alert_id: str, fields: Document, session: Session) -> None:
        await self._alerts.update_one(
            {"_id": alert_id}, {"$setOnInsert": fields}, upsert=True, session=session
        )

    async def record_assessment(self, session_id: str, fields: Document, session: Session) -> None:
        await self._results.update_one(
            {"_id": session_id}, {"$setOnInsert": fields}, upsert=True, session=session
        )

    async def record_tool_calls(
        self,
        message_id: str,
        user_id: str,
        calls: Sequence[ToolCallRecord],
        now: datetime,
        session: Session,
    ) -> None:
        for position, call in enumerate(calls):
            await self._tool_calls.update_one(
                {"_id": f"{message_id}:{call.call_id}"},
                {
                    "$setOnInsert": {
                        "message_id": message_id,
                        "user_id": user_id,
                        "tool_call_id": call.call_id,
                        "tool_name": call.name,
                        "args": call.arguments,
                        "result": call.result,
                        "position": position,
                        "is_partial": False,
                        "created_at": now,
                    }
                },
                upsert=True,
                session=session,
            )

    async def append_conversation(
        self,
        user_id: str,
        entries: Sequence[Document],
        *,
        keep: int,
        now: datetime,
        session: Session,
    ) -> None:
        """Add this exchange to the recent messages (bounded), once: the first entry's id guards
        against a replay adding it again."""
        await self._conversations.update_one(
            {"_id": user_id, "recent_messages.id": {"$ne": entries[0]["id"]}},
            {
                "$push": {"recent_messages": {"$each": list(entries), "$slice": -keep}},
                "$inc": {"total_interaction_count": 1},
                "$set": {"updated_at": now, "last_message_at": entries[0]["at"]},
            },
            session=session,
        )

    async def commit_profile(
        self,
        user_id: str,
        *,
        expected_version: int,
        changes: Document,
        now: datetime,
        session: Session,
    ) -> bool:
        """Apply `changes` if the profile is still at `expected_version` (0: not created yet);
        False when someone else changed it first. This write is the handler's last: once it is
        done, the event's effect is complete."""
        update: dict[str, Any] = {
            "$set": {**changes, "version": expected_version + 1, "updated_at": now},
        }
        if expected_version == 0:
            update["$setOnInsert"] = {"created_at": now}
        try:
            result = await self._profiles.update_one(
                {"_id": user_id, "version": expected_version},
                update,
                upsert=expected_version == 0,
                session=session,
            )
        except DuplicateKeyError:
            return False  # created concurrently by another message
        return result.matched_count == 1 or result.upserted_id is not None

    # --- events from other services --------------------------------------------------------------

    async def apply_opt_out(
        self,
        user_id: str,
        *,
        opted_out: bool,
        changed_at: datetime,
        now: datetime,
        session: Session,
    ) -> bool:
        """Set the opt-out state unless a change at least as recent is already applied."""
        result = await self._profiles.update_one(
            {"_id": user_id, **unset_or_before("opt_out_changed_at", changed_at)},
            {
                "$set": {
                    "sms_opt_out": opted_out,
                    "opted_out_at": changed_at if opted_out else None,
                    "opt_out_changed_at": changed_at,
                    "updated_at": now,
                },
                "$inc": {"version": 1},
            },
            session=session,
        )
        return result.modified_count == 1

    async def apply_access(
        self, phone: str, fields: Document, changed_at: datetime, session: Session
    ) -> bool:
        """Store billing access for `phone` unless a newer change is already stored; kept by
        phone, so it applies to a user who texts for the first time later."""
        await self._access.update_one(
            {"_id": phone},
            {"$setOnInsert": {"changed_at": _EPOCH}},
            upsert=True,
            session=session,
        )
        result = await self._access.update_one(
            {"_id": phone, "changed_at": {"$lte": changed_at}},
            {"$set": {**fields, "changed_at": changed_at}},
            session=session,
        )
        return result.matched_count == 1

    # --- proactive messages ----------------------------------------------------------------------

    async def record_proactive_decision(self, key: str, fields: Document, session: Session) -> None:
        """Keep the first decision for `key`: sent (with the text) or suppressed (with why)."""
        await self._proactive_log.update_one(
            {"_id": key}, {"$setOnInsert": fields}, upsert=True, session=session
        )

    async def remember_outbound(
        self, user_id: str, entry: Document, *, keep: int, now: datetime, session: Session
    ) -> None:
        """Add a message we started to the recent messages (bounded), once, so the responder
        knows what the caregiver is answering; it is not an interaction, so nothing is counted."""
        await self._conversations.update_one(
            {"_id": user_id, "recent_messages.id": {"$ne": entry["id"]}},
            {
                "$push": {"recent_messages": {"$each": [entry], "$slice": -keep}},
                "$set": {"updated_at": now},
            },
            session=session,
        )
