"""What admins and support read: metrics, a user's whole picture, crisis alerts, failed sends,
parked events, migrations, tokens and the audit log — read-only views over each service's data.

Every read takes the caller and shapes its answer for them (`Viewer`): `support` sees phone
numbers with all but the last four digits masked, and no names, e-mail, ZIP code or message
text; `admin` sees everything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from pymongo import DESCENDING

from services.admin.auth import Actor, Role, require
from services.admin.broker import BrokerAccess, consumer_queue
from services.admin.errors import BrokerUnavailable, InvalidRequest, NotFound
from services.admin.outbound_retry import FAILED_STATUSES, retryable
from services.admin.store import AdminStore
from services.billing_worker.views import BillingViews
from services.sms_sender.views import SenderViews
from services.sms_worker.storage import ALERTS, CONVERSATIONS, MESSAGES, PROFILES, USERS
from shared.broker.parking import list_parked
from shared.clock import Clock
from shared.logging import mask_phone, mask_text
from shared.migrations.runner import MIGRATIONS_COLLECTION
from shared.mongo import Database, Document
from shared.phones import InvalidPhoneNumber, normalise_phone

_WEEK: Final = timedelta(days=7)
_HIDDEN: Final = "[hidden]"
_NONE: Final = "none"
# Profile fields any reader may see; the personal ones are for admins only.
_PROFILE_FIELDS: Final = (
    "journey_phase",
    "burnout_score",
    "burnout_band",
    "burnout_confidence",
    "pressure_zones",
    "timezone",
    "language",
    "last_contact_at",
    "last_proactive_message_at",
    "last_crisis_event_at",
    "crisis_followup_count",
    "reactivation_message_count",
    "sms_opt_out",
    "opted_out_at",
    "checkin_preference",
    "snooze_until",
    "created_at",
    "updated_at",
)
_PERSONAL_PROFILE_FIELDS: Final = ("first_name", "relationship", "care_recipient_name", "zip_code")
_MIGRATION_FIELDS: Final = (
    "description",
    "status",
    "phase",
    "started_at",
    "finished_at",
    "last_error",
    "lease_until",
)


class Viewer:
    """Shapes values for one caller: in full for admins, masked or hidden for support."""

    def __init__(self, actor: Actor) -> None:
        self.full = actor.sees_pii

    def phone(self, phone: str | None) -> str | None:
        if phone is None or self.full:
            return phone
        return mask_phone(phone)

    def email(self, email: str | None) -> str | None:
        if email is None or self.full:
            return email
        return mask_text(email)

    def personal(self, value: Any) -> Any:
        """Names, ZIP codes, message text: shown to admins, hidden (not just masked) otherwise."""
        if value is None or self.full:
            return value
        return _HIDDEN


def user_query(ref: str) -> Document:
    """A user reference is an E.164 phone number (starting with `+`) or a user id."""
    text = ref.strip()
    if not text:
        raise InvalidRequest("empty user reference")
    if text.startswith("+"):
        try:
            return {"phone": normalise_phone(text)}
        except InvalidPhoneNumber:
            raise InvalidRequest("not a phone number") from None
    return {"_id": text}


def _counts(rows: Iterable[Document]) -> dict[str, int]:
    return {str(row["_id"] if row.get("_id") is not None else _NONE): row["n"] for row in rows}


def start_of_day(now: datetime, zone: str) -> datetime:
    local = now.astimezone(ZoneInfo(zone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


class AdminReads:
    def __init__(
        self,
        *,
        store: AdminStore,
        sms_db: Database,
        sender: SenderViews,
        billing_db: Database,
        migrations_db: Database,
        broker: BrokerAccess,
        clock: Clock,
        metrics_timezone: str,
        recent_messages: int,
    ) -> None:
        self._store = store
        self._sms = sms_db
        self._sender = sender
        self._billing = BillingViews(billing_db)
        self._migrations = migrations_db[MIGRATIONS_COLLECTION]
        self._broker = broker
        self._clock = clock
        self._timezone = metrics_timezone
        self._recent_messages = recent_messages

    async def _group(self, collection: str, field: str, match: Mapping[str, Any]) -> dict[str, int]:
        pipeline: list[Document] = [
            {"$match": dict(match)},
            {"$group": {"_id": f"${field}", "n": {"$sum": 1}}},
        ]
        cursor = await self._sms[collection].aggregate(pipeline)
        return _counts([row async for row in cursor])

    # --- metrics ----------------------------------------------------------------------------------

    async def metrics(self, actor: Actor) -> Document:
        """The system at a glance; queue figures are None when the broker does not answer."""
        require(actor, Role.SUPPORT)
        now = self._clock.now()
        week_ago = now - _WEEK
        today = start_of_day(now, self._timezone)
        profiles = self._sms[PROFILES]
        alerts = self._sms[ALERTS]
        try:
            queues: dict[str, Any] | None = {
                name: dataclasses.asdict(depth)
                for name, depth in (await self._broker.queue_depths()).items()
            }
        except BrokerUnavailable:
            queues = None
        return {
            "at": now,
            "users": {
                "total": await self._sms[USERS].count_documents({}),
                "by_journey_phase": await self._group(PROFILES, "journey_phase", {}),
                "by_burnout_band": await self._group(PROFILES, "burnout_band", {}),
                "active_7d": await profiles.count_documents(
                    {"last_contact_at": {"$gte": week_ago}}
                ),
            },
            "messages_today": {
                "since": today,
                "inbound": 0,
                "outbound": 0,
                **await self._group(MESSAGES, "direction", {"created_at": {"$gte": today}}),
            },
            "crisis_alerts_7d": {
                "total": await alerts.count_documents({"created_at": {"$gte": week_ago}}),
                "by_severity": await self._group(
                    ALERTS, "severity", {"created_at": {"$gte": week_ago}}
                ),
                "open": await alerts.count_documents({"status": "open"}),
            },
            "outbound_by_status": await self._sender.count_by_status(),
            "queues": queues,
            "parked_total": (
                sum(q["parked"] or 0 for q in queues.values()) if queues is not None else None
            ),
        }

    # --- users ------------------------------------------------------------------------------------

    async def user(self, actor: Actor, ref: str) -> Document:
        """Identity, profile, conversation summary, billing state and the last messages."""
        require(actor, Role.SUPPORT)
        user = await self._sms[USERS].find_one(user_query(ref))
        if user is None:
            raise NotFound("no such user")
        view = Viewer(actor)
        user_id = str(user["_id"])
        phone: str = user["phone"]
        profile = await self._sms[PROFILES].find_one({"_id": user_id})
        conversation = await self._sms[CONVERSATIONS].find_one(
            {"_id": user_id}, {"recent_messages": 0}
        )
        billing = await self._billing.account(phone)
        messages = (
            self._sms[MESSAGES]
            .find({"user_id": user_id})
            .sort("created_at", DESCENDING)
            .limit(self._recent_messages)
        )
        return {
            "id": user_id,
            "phone": view.phone(phone),
            "email": view.email(user.get("email")),
            "roles": list(user.get("roles", [])),
            "created_at": user.get("created_at"),
            "profile": self._profile(profile, view) if profile is not None else None,
            "conversation": (
                {
                    "started_at": conversation.get("conversation_started_at"),
                    "last_message_at": conversation.get("last_message_at"),
                    "total_interactions": conversation.get("total_interaction_count", 0),
                    "summary": view.personal(conversation.get("historical_summary")),
                }
                if conversation is not None
                else None
            ),
            "billing": (
                {
                    "status": billing.status,
                    "has_access": billing.has_access,
                    "subscription_id": billing.subscription_id,
                    "current_period_end": billing.current_period_end,
                    "last_event_at": billing.last_event_at,
                }
                if billing is not None
                else None
            ),
            "last_messages": [_message(row, view) async for row in messages],
        }

    @staticmethod
    def _profile(profile: Document, view: Viewer) -> Document:
        shown = {name: profile.get(name) for name in _PROFILE_FIELDS}
        shown.update({name: view.personal(profile.get(name)) for name in _PERSONAL_PROFILE_FIELDS})
        return shown

    # --- alerts, failed sends, migrations ---------------------------------------------------------

    async def crisis_alerts(
        self, actor: Actor, *, status: str | None, limit: int
    ) -> list[Document]:
        require(actor, Role.SUPPORT)
        query = {} if status is None else {"status": status}
        cursor = self._sms[ALERTS].find(query).sort("created_at", DESCENDING).limit(limit)
        return [
            {
                "id": str(row["_id"]),
                "user_id": row.get("user_id"),
                "severity": row.get("severity"),
                "domestic_violence": bool(row.get("domestic_violence")),
                "source": row.get("source"),
                "status": row.get("status"),
                "created_at": row.get("created_at"),
                "acknowledged_at": row.get("acknowledged_at"),
                "acknowledged_by": row.get("acknowledged_by"),
            }
            async for row in cursor
        ]

    async def failed_outbound(self, actor: Actor, *, limit: int) -> list[Document]:
        """Sends that did not reach the recipient, newest first, with whether a retry may help."""
        require(actor, Role.SUPPORT)
        view = Viewer(actor)
        sends = await self._sender.sends_with_status(FAILED_STATUSES, limit=limit)
        return [
            {
                "key": send.key,
                "user_id": send.user_id,
                "to_number": view.phone(send.to_number),
                "kind": send.kind,
                "status": send.status,
                "reason": send.reason,
                "error_code": send.error_code,
                "error": send.error,
                "attempts": send.attempts,
                "chars": len(send.body),
                "body": view.personal(send.body),
                "updated_at": send.updated_at,
                "retryable": retryable(send.status, send.reason),
            }
            for send in sends
        ]

    async def migrations(self, actor: Actor) -> list[Document]:
        """The `migrations` progress records, read-only (the migration runner owns them)."""
        require(actor, Role.SUPPORT)
        cursor = self._migrations.find({}, {"error_samples": 0}).sort("_id", 1)
        return [
            {
                "id": str(record["_id"]),
                **{name: record.get(name) for name in _MIGRATION_FIELDS},
                "checkpoint": {
                    name: value
                    for name, value in (record.get("checkpoint") or {}).items()
                    if name != "last_id"
                },
            }
            async for record in cursor
        ]

    # --- parked events ----------------------------------------------------------------------------

    async def parked(self, actor: Actor, queue: str, *, limit: int) -> list[Document]:
        """Metadata of the events parked in `<queue>.dlq` (never their bodies)."""
        require(actor, Role.SUPPORT)
        name = self._broker.settings.queue(consumer_queue(queue))
        async with self._broker.channel() as channel:
            events = await list_parked(channel, name, limit=limit)
        return [dataclasses.asdict(event) for event in events]

    # --- the admin's own records ---------------------------------------------------------------

    async def tokens(self, actor: Actor, *, user_id: str | None, limit: int) -> list[Document]:
        require(actor, Role.ADMIN)
        return [_token(row) for row in await self._store.tokens.listing(user_id, limit)]

    async def audit(self, actor: Actor, *, target: str | None, limit: int) -> list[Document]:
        require(actor, Role.ADMIN)
        return [
            {"id": row.pop("_id"), **row} for row in await self._store.audit.recent(limit, target)
        ]


def _message(row: Document, view: Viewer) -> Document:
    body = row.get("body")
    return {
        "id": str(row["_id"]),
        "direction": row.get("direction"),
        "kind": row.get("kind"),
        "status": row.get("status"),
        "created_at": row.get("created_at"),
        "chars": len(body) if isinstance(body, str) else None,
        "body": view.personal(body),
    }


def _token(row: Document) -> Document:
    """A token as listed: everything but its hash (which `listing` never reads anyway)."""
    return {
        "id": row["_id"],
        "user_id": row.get("user_id"),
        "name": row.get("name"),
        "roles": list(row.get("roles", [])),
        "created_at": row.get("created_at"),
        "created_by": row.get("created_by"),
        "expires_at": row.get("expires_at"),
        "last_used_at": row.get("last_used_at"),
        "revoked_at": row.get("revoked_at"),
    }
