"""What other services may read of the SMS worker: users, profiles, conversations, the
conversation log, crisis alerts and the counts behind the admin's metrics, as records.

The admin reads here and nowhere else in the SMS worker. It changes nothing here directly: an
operator's acknowledgement of an alert is a `crisis.alert.acknowledged` the worker consumes
(`alerts.py`), a message to a user an `sms.outbound.requested`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pymongo import ASCENDING, DESCENDING

from services.sms_worker.domain.profile import Profile
from services.sms_worker.records import ALERT_ACKNOWLEDGED, ALERT_OPEN, Alert, Conversation, User
from services.sms_worker.storage import (
    ALERTS,
    ATTACHMENTS,
    CONVERSATIONS,
    MESSAGES,
    PROFILES,
    TOOL_CALLS,
    USERS,
    alert_record,
    conversation_record,
    user_record,
)
from shared.mongo import Database, Document, migrated_from

__all__ = [
    "ALERT_ACKNOWLEDGED",
    "ALERT_OPEN",
    "Alert",
    "Conversation",
    "LoggedMessage",
    "MigratedRows",
    "Profile",
    "SmsWorkerCounts",
    "SmsWorkerMigrated",
    "SmsWorkerViews",
    "StoredProfile",
    "User",
]


@dataclass(frozen=True)
class StoredProfile:
    """A profile and when its row was created and last changed (kept beside it, not in it)."""

    profile: Profile
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True)
class LoggedMessage:
    """One SMS of the conversation log, in or out."""

    id: str
    direction: str
    kind: str | None
    status: str | None
    created_at: datetime | None
    body: str | None


@dataclass(frozen=True)
class SmsWorkerCounts:
    """The SMS worker's figures for a dashboard. `None` keys count rows without the field (a
    profile with no burnout band yet)."""

    users: int
    by_journey_phase: Mapping[str | None, int]
    by_burnout_band: Mapping[str | None, int]
    # Profiles whose last contact is at or after `active_since`.
    active: int
    # Conversation-log rows by direction created at or after `messages_since`.
    messages_by_direction: Mapping[str | None, int]
    # Alerts created at or after `alerts_since`, and by severity; open alerts of any age.
    alerts: int
    alerts_by_severity: Mapping[str | None, int]
    open_alerts: int


class SmsWorkerViews:
    """Read-only queries over the SMS worker's database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def user(self, user_id: str) -> User | None:
        row = await self._db[USERS].find_one({"_id": user_id})
        return user_record(row) if row is not None else None

    async def user_by_phone(self, phone: str) -> User | None:
        """The user with this E.164 phone, if they ever texted us."""
        row = await self._db[USERS].find_one({"phone": phone})
        return user_record(row) if row is not None else None

    async def profile(self, user_id: str) -> StoredProfile | None:
        row = await self._db[PROFILES].find_one({"_id": user_id})
        if row is None:
            return None
        return StoredProfile(
            Profile.model_validate(row), row.get("created_at"), row.get("updated_at")
        )

    async def conversation(self, user_id: str) -> Conversation | None:
        """The conversation's summary and counts, without its window of recent messages."""
        row = await self._db[CONVERSATIONS].find_one({"_id": user_id}, {"recent_messages": 0})
        return conversation_record(row) if row is not None else None

    async def recent_messages(self, user_id: str, limit: int) -> list[LoggedMessage]:
        """The user's newest `limit` messages in the conversation log, newest first."""
        cursor = (
            self._db[MESSAGES]
            .find({"user_id": user_id})
            .sort("created_at", DESCENDING)
            .limit(limit)
        )
        return [
            LoggedMessage(
                id=str(row["_id"]),
                direction=row["direction"],
                kind=row.get("kind"),
                status=row.get("status"),
                created_at=row.get("created_at"),
                body=row.get("body"),
            )
            async for row in cursor
        ]

    async def alert(self, alert_id: str) -> Alert | None:
        row = await self._db[ALERTS].find_one({"_id": alert_id})
        return alert_record(row) if row is not None else None

    async def alerts(self, *, status: str | None, limit: int) -> list[Alert]:
        """Alerts (all, or with `status`), newest first."""
        query = {} if status is None else {"status": status}
        cursor = self._db[ALERTS].find(query).sort("created_at", DESCENDING).limit(limit)
        return [alert_record(row) async for row in cursor]

    async def open_alerts_summary(self) -> tuple[int, datetime | None]:
        """How many crisis alerts wait for a human (open), and when the oldest was raised
        (the `by_status` index answers both)."""
        query = {"status": ALERT_OPEN}
        count = await self._db[ALERTS].count_documents(query)
        oldest = await self._db[ALERTS].find_one(
            query, {"created_at": 1}, sort=[("created_at", ASCENDING)]
        )
        created = oldest.get("created_at") if oldest is not None else None
        return count, created if isinstance(created, datetime) else None

    async def counts(
        self, *, active_since: datetime, messages_since: datetime, alerts_since: datetime
    ) -> SmsWorkerCounts:
        recent_alerts = {"created_at": {"$gte": alerts_since}}
        return SmsWorkerCounts(
            users=await self._db[USERS].count_documents({}),
            by_journey_phase=await self._group(PROFILES, "journey_phase", {}),
            by_burnout_band=await self._group(PROFILES, "burnout_band", {}),
            active=await self._db[PROFILES].count_documents(
                {"last_contact_at": {"$gte": active_since}}
            ),
            messages_by_direction=await self._group(
                MESSAGES, "direction", {"created_at": {"$gte": messages_since}}
            ),
            alerts=await self._db[ALERTS].count_documents(recent_alerts),
            alerts_by_severity=await self._group(ALERTS, "severity", recent_alerts),
            open_alerts=await self._db[ALERTS].count_documents({"status": ALERT_OPEN}),
        )

    async def _group(
        self, collection: str, field: str, match: Mapping[str, Any]
    ) -> dict[str | None, int]:
        pipeline: list[Document] = [
            {"$match": dict(match)},
            {"$group": {"_id": f"${field}", "n": {"$sum": 1}}},
        ]
        cursor = await self._db[collection].aggregate(pipeline)
        return {row["_id"]: int(row["n"]) async for row in cursor}


class MigratedRows(StrEnum):
    """The kinds of row a data migration creates in the SMS worker's database."""

    USERS = USERS
    PROFILES = PROFILES
    CONVERSATIONS = CONVERSATIONS
    ATTACHMENTS = ATTACHMENTS
    TOOL_CALLS = TOOL_CALLS


class SmsWorkerMigrated:
    """What a data migration's verify reads back of the SMS worker's database. Documents as
    stored, not records: verify compares them field by field with the documents the
    repositories' `insert_migrated` build (`storage.migrated_*_document`), provenance included."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def row(self, kind: MigratedRows, row_id: str) -> Document | None:
        return await self._db[kind.value].find_one({"_id": row_id})

    async def count(self, kind: MigratedRows, source: str) -> int:
        """How many rows of `kind` a migration from `source` created."""
        return await self._db[kind.value].count_documents(migrated_from(source))
