"""The SMS worker's collections, their indexes, and the Mongo repositories over them.

One document per concern, so a message touches only what it needs: `users` is identity (what a
phone lookup reads), `user_profiles` the slow-changing profile, `conversation_state` the churn
of recent messages, `messages` the conversation log. Each repository converts between records
(`records.py`) and documents, and is bound to a session when it is built
(`unit_of_work.MongoSmsWork`), so no call can forget the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from domain import send_status
from services.sms_worker.domain.profile import Profile, changed_fields, profile_document
from services.sms_worker.domain.responder import ToolCallRecord
from services.sms_worker.domain.summary import ConversationWindow, SummaryUpdate
from services.sms_worker.records import (
    ALERT_ACKNOWLEDGED,
    ALERT_OPEN,
    Acknowledgement,
    Alert,
    AssessmentResult,
    Attachment,
    BillingAccess,
    Caregiver,
    Conversation,
    ConversationEntry,
    ImportedAttachment,
    ImportedConversation,
    ImportedProfile,
    ImportedToolCall,
    InboundSmsRecord,
    OutboundRequest,
    OutboundSmsRecord,
    ProactiveDecision,
    SendUpdate,
    ToolCall,
    User,
    outbound_message_id,
    supersedes,
)
from shared.mongo import (
    BulkFailure,
    Database,
    Document,
    IndexDeclarations,
    Provenance,
    insert_absent,
    migrated_from,
    unset_or_before,
)

USERS: Final = "users"
PROFILES: Final = "user_profiles"
CONVERSATIONS: Final = "conversation_state"
MESSAGES: Final = "messages"
ATTACHMENTS: Final = "attachments"
TOOL_CALLS: Final = "tool_calls"
ALERTS: Final = "alerts"
ASSESSMENT_RESULTS: Final = "assessment_results"
BILLING_ACCESS: Final = "billing_access"
PROACTIVE_LOG: Final = "proactive_log"

# A billing access row created before any change is older than every real change.
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

Collection = AsyncCollection[Document]


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


class _Repository:
    """One collection and the session every call on it runs in (None: each call alone)."""

    COLLECTION: str

    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._collection: Collection = db[self.COLLECTION]
        self._session = session

    async def _keep_first(self, row_id: str, fields: Document) -> None:
        """Insert the row unless it exists: a repeated write changes nothing."""
        await self._collection.update_one(
            {"_id": row_id}, {"$setOnInsert": fields}, upsert=True, session=self._session
        )

    async def _get(self, row_id: str) -> Document | None:
        return await self._collection.find_one({"_id": row_id}, session=self._session)

    async def delete_migrated(self, source: str) -> int:
        """A data migration's rollback: remove the rows it created from `source` (they carry
        its provenance; rows the worker wrote never do). Returns how many."""
        result = await self._collection.delete_many(migrated_from(source), session=self._session)
        return result.deleted_count


def user_record(row: Document) -> User:
    return User(
        id=str(row["_id"]),
        phone=row["phone"],
        created_at=row["created_at"],
        email=row.get("email"),
    )


class MongoUsers(_Repository):
    COLLECTION = USERS

    async def by_phone(self, phone: str) -> User | None:
        row = await self._collection.find_one({"phone": phone}, session=self._session)
        return user_record(row) if row is not None else None

    async def add(self, user: User) -> User:
        """The upsert first (the handler adds only a number it did not find), then, when the
        number had a user after all, the lookup: not `find_one_and_update`, which SecantusDB
        runs as a scan of the collection. In a transaction a concurrent creation surfaces as a
        retried write conflict."""
        result = await self._collection.update_one(
            {"phone": user.phone},
            {
                "$setOnInsert": {
                    "_id": user.id,
                    "phone": user.phone,
                    "email": user.email,
                    "created_at": user.created_at,
                    "updated_at": user.created_at,
                }
            },
            upsert=True,
            session=self._session,
        )
        if result.upserted_id is not None:
            return user
        stored = await self.by_phone(user.phone)
        if stored is None:
            raise UserCreationRaced("the user upsert lost a race; the event will be retried")
        return stored

    async def insert_migrated(
        self, users: Sequence[User], provenance: Provenance
    ) -> list[BulkFailure]:
        """A data migration's users in one unordered write, each created unless its id exists
        (a replay changes nothing). A phone another user holds is a failure (`phone_unique`):
        reported by the migration, never merged."""
        return await insert_absent(
            self._collection, [migrated_user_document(user, provenance) for user in users]
        )


def migrated_user_document(user: User, provenance: Provenance) -> Document:
    """The `users` row a data migration creates (also what its verify expects to find)."""
    return {
        "_id": user.id,
        "phone": user.phone,
        "email": user.email,
        "created_at": user.created_at,
        "updated_at": provenance.at,
        **provenance.fields(),
    }


def migrated_profile_document(row: ImportedProfile, provenance: Provenance) -> Document:
    """The `user_profiles` row a data migration creates."""
    return {
        "_id": row.profile.user_id,
        **profile_document(row.profile),
        "created_at": row.created_at,
        "updated_at": provenance.at,
        **provenance.fields(),
    }


def migrated_conversation_document(row: ImportedConversation, provenance: Provenance) -> Document:
    """The `conversation_state` row a data migration creates."""
    return {
        "_id": row.user_id,
        "user_id": row.user_id,
        "recent_messages": [_entry_document(entry) for entry in row.entries],
        "historical_summary": row.summary,
        "historical_summary_version": row.summary_version,
        "conversation_started_at": row.started_at,
        "total_interaction_count": row.interactions,
        "last_message_at": row.last_message_at,
        "created_at": row.created_at,
        "updated_at": provenance.at,
        **provenance.fields(),
    }


def migrated_attachment_document(row: ImportedAttachment, provenance: Provenance) -> Document:
    """The `attachments` row a data migration creates."""
    return {
        "_id": row.id,
        "message_id": row.message_id,
        "user_id": row.user_id,
        "conversation_id": row.conversation_id,
        "position": row.position,
        "type": row.type,
        "name": row.name,
        "storage_id": row.storage_id,
        "url": row.url,
        "content_type": row.content_type,
        "size": row.size,
        "metadata": dict(row.metadata),
        "created_at": row.created_at,
        **provenance.fields(),
    }


def migrated_tool_call_document(row: ImportedToolCall, provenance: Provenance) -> Document:
    """The `tool_calls` row a data migration creates; `*_raw` only for text that was not JSON."""
    document: Document = {
        "_id": row.id,
        "message_id": row.message_id,
        "user_id": row.user_id,
        "conversation_id": row.conversation_id,
        "tool_call_id": row.tool_call_id,
        "tool_name": row.tool_name,
        "position": row.position,
        "text_position": row.text_position,
        "is_partial": row.is_partial,
        "created_at": row.created_at,
        "args": row.args,
        "result": row.result,
        **provenance.fields(),
    }
    if row.args_raw is not None:
        document["args_raw"] = row.args_raw
    if row.result_raw is not None:
        document["result_raw"] = row.result_raw
    return document


def _counted_inbound(since: datetime, until: datetime, excluding: str) -> Document:
    """The messages of a user (matched on `user_id` by the caller) that count towards the rate
    limit in (since, until]."""
    return {
        "created_at": {"$gt": since, "$lte": until},
        "direction": "inbound",
        "rate_exempt": {"$ne": True},
        "_id": {"$ne": excluding},
    }


class MongoCaregivers:
    """The sender of a message in one command: `users` by phone, joined (`$lookup`, each by an
    indexed key) to the profile and to the count of their messages under the rate limit —
    instead of a lookup, a profile read and a count, one after another."""

    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        self._users: Collection = db[USERS]
        self._session = session

    async def by_phone(
        self, phone: str, *, since: datetime, until: datetime, excluding: str
    ) -> Caregiver | None:
        pipeline: list[Document] = [
            {"$match": {"phone": phone}},
            {"$limit": 1},
            {
                "$lookup": {
                    "from": PROFILES,
                    "localField": "_id",
                    "foreignField": "_id",
                    "as": "profile",
                }
            },
            {
                "$lookup": {
                    "from": MESSAGES,
                    "localField": "_id",
                    "foreignField": "user_id",
                    "pipeline": [
                        {"$match": _counted_inbound(since, until, excluding)},
                        {"$group": {"_id": None, "n": {"$sum": 1}}},
                    ],
                    "as": "counted",
                }
            },
        ]
        cursor = await self._users.aggregate(pipeline, session=self._session)
        rows = [row async for row in cursor]
        if not rows:
            return None
        [row] = rows
        profiles, counted = row.pop("profile"), row.pop("counted")
        return Caregiver(
            user=user_record(row),
            profile=Profile.model_validate(profiles[0]) if profiles else None,
            counted_inbound=int(counted[0]["n"]) if counted else 0,
        )


class MongoProfiles(_Repository):
    COLLECTION = PROFILES

    async def insert_migrated(
        self, rows: Sequence[ImportedProfile], provenance: Provenance
    ) -> list[BulkFailure]:
        """A data migration's profiles, each created unless the user has one: a profile the
        worker created since (the user texted after cut-over) is newer and kept."""
        return await insert_absent(
            self._collection, [migrated_profile_document(row, provenance) for row in rows]
        )

    async def get(self, user_id: str) -> Profile | None:
        row = await self._get(user_id)
        return Profile.model_validate(row) if row is not None else None

    async def create(self, profile: Profile, now: datetime) -> bool:
        fields = {**profile_document(profile), "version": 1, "created_at": now, "updated_at": now}
        result = await self._collection.update_one(
            {"_id": profile.user_id}, {"$setOnInsert": fields}, upsert=True, session=self._session
        )
        return result.upserted_id is not None

    async def update(self, before: Profile, after: Profile, now: datetime) -> bool:
        changes = changed_fields(before, after)
        changes.pop("version", None)
        result = await self._collection.update_one(
            {"_id": before.user_id, "version": before.version},
            {"$set": {**changes, "version": before.version + 1, "updated_at": now}},
            session=self._session,
        )
        return result.matched_count == 1

    async def set_opt_out(
        self, user_id: str, *, opted_out: bool, changed_at: datetime, now: datetime
    ) -> bool:
        result = await self._collection.update_one(
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
            session=self._session,
        )
        return result.modified_count == 1


def _entry_document(entry: ConversationEntry) -> Document:
    document: Document = {
        "id": entry.id,
        "direction": entry.direction,
        "body": entry.body,
        "at": entry.at,
    }
    if entry.kind is not None:
        document["kind"] = entry.kind
    return document


def _new_conversation(user_id: str, started_at: datetime, now: datetime) -> Document:
    return {
        "user_id": user_id,
        "recent_messages": [],
        "historical_summary": None,
        "conversation_started_at": started_at,
        "total_interaction_count": 0,
        "created_at": now,
        "updated_at": now,
    }


def conversation_record(row: Document) -> Conversation:
    """A `conversation_state` row; read without `recent_messages`, it has no entries."""
    return Conversation(
        user_id=str(row["_id"]),
        started_at=row["conversation_started_at"],
        entries=tuple(
            ConversationEntry(
                id=entry["id"],
                direction=entry["direction"],
                body=entry["body"],
                at=entry["at"],
                kind=entry.get("kind"),
            )
            for entry in row.get("recent_messages", [])
        ),
        interactions=int(row.get("total_interaction_count") or 0),
        last_message_at=row.get("last_message_at"),
        summary=row.get("historical_summary") or None,
        summary_version=int(row.get("historical_summary_version") or 0),
        summarised_through=row.get("historical_summary_through"),
    )


class MongoConversations(_Repository):
    COLLECTION = CONVERSATIONS

    async def insert_migrated(
        self, rows: Sequence[ImportedConversation], provenance: Provenance
    ) -> list[BulkFailure]:
        """A data migration's conversation states, each created unless the user has one."""
        return await insert_absent(
            self._collection, [migrated_conversation_document(row, provenance) for row in rows]
        )

    async def start(self, user_id: str, started_at: datetime, now: datetime) -> None:
        await self._keep_first(user_id, _new_conversation(user_id, started_at, now))

    async def start_with(
        self,
        user_id: str,
        entries: Sequence[ConversationEntry],
        *,
        started_at: datetime,
        keep: int,
        now: datetime,
    ) -> None:
        """One upsert holding the first exchange; a conversation already there gets the
        exchange as `add_exchange` adds it (a second command, only then)."""
        started = {
            **_new_conversation(user_id, started_at, now),
            "recent_messages": [_entry_document(entry) for entry in entries][-keep:],
            "total_interaction_count": 1,
            "last_message_at": entries[0].at,
        }
        result = await self._collection.update_one(
            {"_id": user_id}, {"$setOnInsert": started}, upsert=True, session=self._session
        )
        if result.upserted_id is None:
            await self.add_exchange(user_id, entries, keep=keep, now=now)

    async def get(self, user_id: str) -> Conversation | None:
        row = await self._get(user_id)
        return conversation_record(row) if row is not None else None

    async def window(self, user_id: str, limit: int) -> ConversationWindow:
        """Only the newest `limit` entries leave the server (`$slice`)."""
        row = await self._collection.find_one(
            {"_id": user_id},
            {
                "recent_messages": {"$slice": -limit},
                "conversation_started_at": 1,
                "historical_summary": 1,
                "historical_summary_version": 1,
                "historical_summary_through": 1,
            },
            session=self._session,
        )
        if row is None:
            return ConversationWindow(())
        return conversation_record(row).window(limit)

    async def add_exchange(
        self, user_id: str, entries: Sequence[ConversationEntry], *, keep: int, now: datetime
    ) -> None:
        await self._push(
            user_id,
            entries,
            keep=keep,
            changes={"updated_at": now, "last_message_at": entries[0].at},
            counted=True,
        )

    async def remember_outbound(
        self, user_id: str, entry: ConversationEntry, *, keep: int, now: datetime
    ) -> None:
        await self._push(user_id, [entry], keep=keep, changes={"updated_at": now}, counted=False)

    async def _push(
        self,
        user_id: str,
        entries: Sequence[ConversationEntry],
        *,
        keep: int,
        changes: Document,
        counted: bool,
    ) -> None:
        """Append once: the first entry's id guards against a replay adding them again."""
        update: dict[str, Any] = {
            "$push": {
                "recent_messages": {
                    "$each": [_entry_document(entry) for entry in entries],
                    "$slice": -keep,
                }
            },
            "$set": changes,
        }
        if counted:
            update["$inc"] = {"total_interaction_count": 1}
        await self._collection.update_one(
            {"_id": user_id, "recent_messages.id": {"$ne": entries[0].id}},
            update,
            session=self._session,
        )

    async def save_summary(self, user_id: str, update: SummaryUpdate, now: datetime) -> bool:
        """A replayed or raced plan never stores a second summary over the one it read."""
        previous = update.version - 1
        current: Any = {"$in": [None, 0]} if previous == 0 else previous
        result = await self._collection.update_one(
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
            session=self._session,
        )
        return result.modified_count == 1


def _outbound(key: str, row: Document) -> OutboundSmsRecord:
    return OutboundSmsRecord(
        key=key,
        user_id=row.get("user_id"),
        body=row.get("body"),
        kind=row.get("kind"),
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        reopened=int(row.get("reopened") or 0),
        provider_sid=row.get("provider_sid"),
        error_code=row.get("error_code"),
    )


def _step_fields(update: SendUpdate) -> Document:
    """What a step of a send sets on the row; a step without a sid or code keeps the old."""
    fields: Document = {
        "status": update.status,
        "reopened": update.reopened,
        "updated_at": update.at,
    }
    optional = {
        "user_id": update.user_id,
        "provider_sid": update.provider_sid,
        "error_code": update.error_code,
    }
    fields.update({name: value for name, value in optional.items() if value is not None})
    return fields


def _request_upsert(request: OutboundRequest) -> tuple[Document, Document]:
    """Filter and update of a requested SMS's row: one upsert by `_id` alone (a conditional
    upsert could hit the key and abort the transaction): body and kind are the request's, the
    status only set on insert, and the row dates from the earliest thing known about the send."""
    fields: Document = {"direction": "outbound", "body": request.body, "kind": request.kind}
    on_insert: Document = {
        "status": send_status.PENDING,
        "reopened": 0,
        "provider_sid": None,
        "updated_at": request.requested_at,
    }
    (fields if request.user_id is not None else on_insert)["user_id"] = request.user_id
    return (
        {"_id": outbound_message_id(request.key)},
        {"$set": fields, "$setOnInsert": on_insert, "$min": {"created_at": request.requested_at}},
    )


class MongoMessages(_Repository):
    """`messages` (the conversation log) and `attachments` (an inbound message's media)."""

    COLLECTION = MESSAGES

    def __init__(self, db: Database, session: AsyncClientSession | None = None) -> None:
        super().__init__(db, session)
        self._attachments: Collection = db[ATTACHMENTS]

    async def record_inbound(
        self, message: InboundSmsRecord, requests: Sequence[OutboundRequest] = ()
    ) -> bool:
        """The message's first record and the rows of the `requests` that answer it, in one
        write; the attachments in one write more each, when there are any. True when the
        message's record is new."""
        upserts = [
            (
                {"_id": message.id},
                {
                    "$setOnInsert": {
                        "direction": "inbound",
                        "user_id": message.user_id,
                        "body": message.body,
                        "provider_sid": message.provider_sid,
                        "status": message.status,
                        "num_media": message.num_media,
                        "route": message.route,
                        "rate_exempt": message.rate_exempt,
                        "event_id": message.event_id,
                        "error": message.error,
                        "created_at": message.created_at,
                        "updated_at": message.updated_at,
                    }
                },
            ),
            *(_request_upsert(request) for request in requests),
        ]
        if len(upserts) == 1:
            [(row, update)] = upserts
            single = await self._collection.update_one(
                row, update, upsert=True, session=self._session
            )
            new = single.upserted_id is not None
        else:
            result = await self._collection.bulk_write(
                [UpdateOne(row, update, upsert=True) for row, update in upserts],
                ordered=True,
                session=self._session,
            )
            new = 0 in (result.upserted_ids or {})
        for attachment in message.attachments:
            await self._attachments.update_one(
                {"_id": attachment.id},
                {
                    "$setOnInsert": {
                        "message_id": attachment.message_id,
                        "user_id": attachment.user_id,
                        "url": attachment.url,
                        "content_type": attachment.content_type,
                        "position": attachment.position,
                        "created_at": attachment.created_at,
                    }
                },
                upsert=True,
                session=self._session,
            )
        return new

    async def inbound(self, message_id: str) -> InboundSmsRecord | None:
        row = await self._get(message_id)
        if row is None:
            return None
        cursor = self._attachments.find({"message_id": message_id}, session=self._session)
        attachments = sorted(
            [
                Attachment(
                    id=str(media["_id"]),
                    message_id=media["message_id"],
                    user_id=media["user_id"],
                    url=media["url"],
                    content_type=media.get("content_type"),
                    position=media["position"],
                    created_at=media["created_at"],
                )
                async for media in cursor
            ],
            key=lambda media: media.position,
        )
        return InboundSmsRecord(
            id=message_id,
            user_id=row.get("user_id"),
            body=row["body"],
            provider_sid=row["provider_sid"],
            status=row["status"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            num_media=int(row.get("num_media") or 0),
            route=row.get("route"),
            rate_exempt=bool(row.get("rate_exempt")),
            event_id=row.get("event_id"),
            error=row.get("error"),
            attachments=tuple(attachments),
        )

    async def inbound_count(
        self, user_id: str, since: datetime, until: datetime, *, excluding: str
    ) -> int:
        return await self._collection.count_documents(
            {"user_id": user_id, **_counted_inbound(since, until, excluding)},
            session=self._session,
        )

    async def record_request(self, request: OutboundRequest) -> None:
        row, update = _request_upsert(request)
        await self._collection.update_one(row, update, upsert=True, session=self._session)

    async def apply_update(self, update: SendUpdate) -> bool:
        """Apply a step if it moves the row on (`supersedes`): first as one update conditional
        on the row being in the same round at a lower rank — the usual case, one command —
        else read, decide, then write conditional on exactly what was read (a later round, a
        row not there yet, or an older step to drop).

        Safe without a transaction (the sends consumer runs it alone): a write that finds the
        row changed since the read reads and decides again, and the row only moves forwards,
        so that ends."""
        row_id = outbound_message_id(update.key)
        same_round: Any = {"$in": [None, 0]} if update.reopened == 0 else update.reopened
        moved = await self._collection.update_one(
            {
                "_id": row_id,
                "reopened": same_round,
                "status": {"$in": send_status.below(update.status)},
            },
            {"$set": _step_fields(update)},
            session=self._session,
        )
        if moved.modified_count == 1:
            return True
        while True:
            current = await self.outbound(update.key)
            if current is None:
                if await self._create_from_step(row_id, update):
                    return True
                continue  # created meanwhile (the request's row, or a concurrent step)
            if not supersedes(update, current):
                return False
            # Rows the sender wrote before `reopened` existed have none: that is round 0.
            round_read: Any = {"$in": [None, 0]} if current.reopened == 0 else current.reopened
            result = await self._collection.update_one(
                {"_id": row_id, "status": current.status, "reopened": round_read},
                {"$set": _step_fields(update)},
                session=self._session,
            )
            if result.modified_count == 1:
                return True

    async def _create_from_step(self, row_id: str, update: SendUpdate) -> bool:
        """The row of a send this worker did not ask for, from its first step; False when a
        row with `row_id` exists."""
        try:
            result = await self._collection.update_one(
                {"_id": row_id},
                {
                    "$setOnInsert": {
                        "direction": "outbound",
                        "user_id": update.user_id,
                        "body": update.body,
                        "kind": update.kind,
                        "provider_sid": None,
                        "created_at": update.at,
                        **_step_fields(update),
                    }
                },
                upsert=True,
                session=self._session,
            )
        except DuplicateKeyError:
            if self._session is not None:
                raise  # the transaction is aborted: its runner retries it
            return False
        return result.upserted_id is not None

    async def outbound(self, key: str) -> OutboundSmsRecord | None:
        row = await self._get(outbound_message_id(key))
        return _outbound(key, row) if row is not None else None


class MongoAttachments(_Repository):
    """`attachments` as a data migration fills it (the legacy messages' arrays); the worker's
    own MMS media are written with their message (`MongoMessages.record_inbound`)."""

    COLLECTION = ATTACHMENTS

    async def insert_migrated(
        self, rows: Sequence[ImportedAttachment], provenance: Provenance
    ) -> list[BulkFailure]:
        """Each row created unless its id exists: a replayed batch writes nothing twice."""
        return await insert_absent(
            self._collection, [migrated_attachment_document(row, provenance) for row in rows]
        )


class MongoToolCalls(_Repository):
    COLLECTION = TOOL_CALLS

    async def insert_migrated(
        self, rows: Sequence[ImportedToolCall], provenance: Provenance
    ) -> list[BulkFailure]:
        """A data migration's tool calls, each created unless its id exists."""
        return await insert_absent(
            self._collection, [migrated_tool_call_document(row, provenance) for row in rows]
        )

    async def record(self, calls: Sequence[ToolCall]) -> None:
        for call in calls:
            await self._keep_first(
                call.id,
                {
                    "message_id": call.message_id,
                    "user_id": call.user_id,
                    "tool_call_id": call.call.call_id,
                    "tool_name": call.call.name,
                    "args": call.call.arguments,
                    "result": call.call.result,
                    "position": call.position,
                    "is_partial": False,
                    "created_at": call.created_at,
                },
            )

    async def of_message(self, message_id: str) -> list[ToolCall]:
        cursor = self._collection.find({"message_id": message_id}, session=self._session)
        calls = [
            ToolCall(
                message_id=row["message_id"],
                user_id=row["user_id"],
                call=ToolCallRecord(
                    row["tool_call_id"], row["tool_name"], row["args"], row["result"]
                ),
                position=row["position"],
                created_at=row["created_at"],
            )
            async for row in cursor
        ]
        return sorted(calls, key=lambda call: call.position)


class MongoAlerts(_Repository):
    COLLECTION = ALERTS

    async def record(self, alert: Alert) -> None:
        await self._keep_first(
            alert.id,
            {
                "user_id": alert.user_id,
                "message_id": alert.message_id,
                "severity": alert.severity,
                "domestic_violence": alert.domestic_violence,
                "source": alert.source,
                "status": alert.status,
                "needs_human_follow_up": alert.needs_human_follow_up,
                "created_at": alert.created_at,
            },
        )

    async def get(self, alert_id: str) -> Alert | None:
        row = await self._get(alert_id)
        return alert_record(row) if row is not None else None

    async def acknowledge(self, acknowledgement: Acknowledgement) -> bool:
        """Only an open alert moves: a second acknowledgement leaves the first in place."""
        fields: Document = {
            "status": ALERT_ACKNOWLEDGED,
            "acknowledged_at": acknowledgement.at,
            "acknowledged_by": acknowledgement.by,
        }
        if acknowledgement.note:
            fields["acknowledgement_note"] = acknowledgement.note
        result = await self._collection.update_one(
            {"_id": acknowledgement.alert_id, "status": ALERT_OPEN},
            {"$set": fields},
            session=self._session,
        )
        return result.modified_count == 1


def alert_record(row: Document) -> Alert:
    return Alert(
        id=str(row["_id"]),
        user_id=row["user_id"],
        message_id=row["message_id"],
        severity=row["severity"],
        domestic_violence=bool(row.get("domestic_violence")),
        source=row["source"],
        needs_human_follow_up=bool(row.get("needs_human_follow_up")),
        created_at=row["created_at"],
        status=row["status"],
        acknowledged_at=row.get("acknowledged_at"),
        acknowledged_by=row.get("acknowledged_by"),
        acknowledgement_note=row.get("acknowledgement_note"),
    )


class MongoAssessments(_Repository):
    COLLECTION = ASSESSMENT_RESULTS

    async def record(self, result: AssessmentResult) -> None:
        await self._keep_first(
            result.id,
            {
                "user_id": result.user_id,
                "instrument": result.instrument,
                "answers": list(result.answers),
                "score": result.score,
                "band": result.band,
                "confidence": result.confidence,
                "zone_scores": result.zone_scores,
                "pressure_zones": list(result.pressure_zones),
                "raw_total": result.raw_total,
                "severity": result.severity,
                "completed_at": result.completed_at,
            },
        )

    async def get(self, session_id: str) -> AssessmentResult | None:
        row = await self._get(session_id)
        if row is None:
            return None
        return AssessmentResult(
            id=session_id,
            user_id=row["user_id"],
            instrument=row["instrument"],
            answers=tuple(row["answers"]),
            score=row["score"],
            band=row["band"],
            confidence=row["confidence"],
            zone_scores=dict(row["zone_scores"]),
            pressure_zones=tuple(row["pressure_zones"]),
            raw_total=row.get("raw_total"),
            severity=row.get("severity"),
            completed_at=row["completed_at"],
        )


class MongoBillingAccess(_Repository):
    COLLECTION = BILLING_ACCESS

    async def get(self, phone: str) -> BillingAccess | None:
        row = await self._get(phone)
        if row is None:
            return None
        return BillingAccess(
            phone=phone,
            user_id=row.get("user_id"),
            has_access=bool(row.get("has_access")),
            status=row.get("status"),
            current_period_end=row.get("current_period_end"),
            changed_at=row["changed_at"],
            updated_at=row.get("updated_at") or row["changed_at"],
        )

    async def apply(self, access: BillingAccess) -> bool:
        """Kept by phone, so it applies to a user who texts for the first time later. The row
        is made first (by `_id` alone, never a duplicate key), then changed if not newer."""
        await self._keep_first(access.phone, {"changed_at": _EPOCH})
        result = await self._collection.update_one(
            {"_id": access.phone, "changed_at": {"$lte": access.changed_at}},
            {
                "$set": {
                    "user_id": access.user_id,
                    "has_access": access.has_access,
                    "status": access.status,
                    "current_period_end": access.current_period_end,
                    "changed_at": access.changed_at,
                    "updated_at": access.updated_at,
                }
            },
            session=self._session,
        )
        return result.matched_count == 1


class MongoProactiveLog(_Repository):
    COLLECTION = PROACTIVE_LOG

    async def record(self, decision: ProactiveDecision) -> None:
        await self._keep_first(
            decision.key,
            {
                "event_id": decision.event_id,
                "user_id": decision.user_id,
                "kind": decision.kind,
                "stage": decision.stage,
                "due_at": decision.due_at,
                "outcome": decision.outcome,
                "reason": decision.reason,
                "body": decision.body,
                "decided_at": decision.decided_at,
            },
        )

    async def get(self, key: str) -> ProactiveDecision | None:
        row = await self._get(key)
        if row is None:
            return None
        return ProactiveDecision(
            key=key,
            event_id=row["event_id"],
            user_id=row["user_id"],
            kind=row["kind"],
            stage=row["stage"],
            due_at=row["due_at"],
            outcome=row["outcome"],
            decided_at=row["decided_at"],
            reason=row.get("reason"),
            body=row.get("body"),
        )
