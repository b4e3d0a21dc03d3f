"""What admins and support read: metrics, a user's whole picture, crisis alerts, failed sends,
parked events, migrations, tokens and the audit log — read-only views over each service's data.

Every read takes the caller and shapes its answer for them (`Viewer`): `support` sees phone
numbers with all but the last four digits masked, and no names, e-mail, ZIP code or message
text; `admin` sees everything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol
from zoneinfo import ZoneInfo

from services.admin.auth import Actor, Role, require
from services.admin.broker import BrokerAccess, consumer_queue
from services.admin.errors import BrokerUnavailable, InvalidRequest, NotFound
from services.admin.outbound_retry import FAILED_STATUSES, retryable
from services.admin.records import ApiToken, AuditEntry
from services.admin.unit_of_work import AdminRepositories
from services.billing_worker.views import BillingViews
from services.sms_sender.views import SenderViews
from services.sms_worker.views import (
    Alert,
    Conversation,
    LoggedMessage,
    SmsWorkerViews,
    StoredProfile,
    User,
)
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


@dataclass(frozen=True)
class Reference:
    """A person a request names: by E.164 phone (written with a leading `+`) or by id (an
    SMS-worker user id or, for roles and tokens, an operator id)."""

    phone: str | None = None
    id: str | None = None


def reference(ref: str) -> Reference:
    text = ref.strip()
    if not text:
        raise InvalidRequest("empty user reference")
    if text.startswith("+"):
        try:
            return Reference(phone=normalise_phone(text))
        except InvalidPhoneNumber:
            raise InvalidRequest("not a phone number") from None
    return Reference(id=text)


class UserReads(Protocol):
    """The SMS worker's users, as its views module offers them."""

    async def user(self, user_id: str) -> User | None: ...

    async def user_by_phone(self, phone: str) -> User | None: ...


async def sms_user(sms: UserReads, ref: str) -> User:
    """The SMS worker's user a reference names (someone who texted us), or `NotFound`."""
    named = reference(ref)
    found = await (sms.user_by_phone(named.phone) if named.phone else sms.user(str(named.id)))
    if found is None:
        raise NotFound("no such user")
    return found


def _counts(counts: Mapping[str | None, int]) -> dict[str, int]:
    return {_NONE if key is None else str(key): n for key, n in counts.items()}


def start_of_day(now: datetime, zone: str) -> datetime:
    local = now.astimezone(ZoneInfo(zone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


class AdminReads:
    def __init__(
        self,
        *,
        repositories: AdminRepositories,
        sms: SmsWorkerViews,
        sender: SenderViews,
        billing: BillingViews,
        migrations_db: Database,
        broker: BrokerAccess,
        clock: Clock,
        metrics_timezone: str,
        recent_messages: int,
    ) -> None:
        self._admin = repositories
        self._sms = sms
        self._sender = sender
        self._billing = billing
        self._migrations = migrations_db[MIGRATIONS_COLLECTION]
        self._broker = broker
        self._clock = clock
        self._timezone = metrics_timezone
        self._recent_messages = recent_messages

    # --- metrics ----------------------------------------------------------------------------------

    async def metrics(self, actor: Actor) -> Document:
        """The system at a glance; queue figures are None when the broker does not answer."""
        require(actor, Role.SUPPORT)
        now = self._clock.now()
        week_ago = now - _WEEK
        today = start_of_day(now, self._timezone)
        counts = await self._sms.counts(
            active_since=week_ago, messages_since=today, alerts_since=week_ago
        )
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
                "total": counts.users,
                "by_journey_phase": _counts(counts.by_journey_phase),
                "by_burnout_band": _counts(counts.by_burnout_band),
                "active_7d": counts.active,
            },
            "messages_today": {
                "since": today,
                "inbound": 0,
                "outbound": 0,
                **_counts(counts.messages_by_direction),
            },
            "crisis_alerts_7d": {
                "total": counts.alerts,
                "by_severity": _counts(counts.alerts_by_severity),
                "open": counts.open_alerts,
            },
            "outbound_by_status": await self._sender.count_by_status(),
            "queues": queues,
            "parked_total": (
                sum(q["parked"] or 0 for q in queues.values()) if queues is not None else None
            ),
        }

    # --- users ------------------------------------------------------------------------------------

    async def user(self, actor: Actor, ref: str) -> Document:
        """Identity, the roles of the phone's operator, profile, conversation summary, billing
        state and the last messages."""
        require(actor, Role.SUPPORT)
        user = await sms_user(self._sms, ref)
        view = Viewer(actor)
        operator = await self._admin.operators.by_phone(user.phone)
        profile = await self._sms.profile(user.id)
        conversation = await self._sms.conversation(user.id)
        billing = await self._billing.account(user.phone)
        messages = await self._sms.recent_messages(user.id, self._recent_messages)
        return {
            "id": user.id,
            "phone": view.phone(user.phone),
            "email": view.email(user.email),
            "operator_id": operator.id if operator is not None else None,
            "roles": sorted(operator.roles) if operator is not None else [],
            "created_at": user.created_at,
            "profile": _profile(profile, view) if profile is not None else None,
            "conversation": (
                _conversation(conversation, view) if conversation is not None else None
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
            "last_messages": [_message(message, view) for message in messages],
        }

    # --- alerts, failed sends, migrations ---------------------------------------------------------

    async def crisis_alerts(
        self, actor: Actor, *, status: str | None, limit: int
    ) -> list[Document]:
        require(actor, Role.SUPPORT)
        return [_alert(alert) for alert in await self._sms.alerts(status=status, limit=limit)]

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

    async def tokens(self, actor: Actor, *, operator_id: str | None, limit: int) -> list[Document]:
        require(actor, Role.ADMIN)
        return [_token(token) for token in await self._admin.tokens.listing(operator_id, limit)]

    async def audit(self, actor: Actor, *, target: str | None, limit: int) -> list[Document]:
        require(actor, Role.ADMIN)
        return [_audit(entry) for entry in await self._admin.audit.recent(limit, target)]


def _profile(stored: StoredProfile, view: Viewer) -> Document:
    profile = stored.profile
    shown: Document = {name: getattr(profile, name) for name in _PROFILE_FIELDS}
    shown.update({name: view.personal(getattr(profile, name)) for name in _PERSONAL_PROFILE_FIELDS})
    shown.update({"created_at": stored.created_at, "updated_at": stored.updated_at})
    return shown


def _conversation(conversation: Conversation, view: Viewer) -> Document:
    return {
        "started_at": conversation.started_at,
        "last_message_at": conversation.last_message_at,
        "total_interactions": conversation.interactions,
        "summary": view.personal(conversation.summary),
    }


def _message(message: LoggedMessage, view: Viewer) -> Document:
    return {
        "id": message.id,
        "direction": message.direction,
        "kind": message.kind,
        "status": message.status,
        "created_at": message.created_at,
        "chars": len(message.body) if message.body is not None else None,
        "body": view.personal(message.body),
    }


def _alert(alert: Alert) -> Document:
    return {
        "id": alert.id,
        "user_id": alert.user_id,
        "severity": alert.severity,
        "domestic_violence": alert.domestic_violence,
        "source": alert.source,
        "status": alert.status,
        "created_at": alert.created_at,
        "acknowledged_at": alert.acknowledged_at,
        "acknowledged_by": alert.acknowledged_by,
    }


def _token(token: ApiToken) -> Document:
    """A token as listed: everything but its hash."""
    return {
        "id": token.id,
        "operator_id": token.operator_id,
        "name": token.name,
        "roles": sorted(token.roles),
        "created_at": token.created_at,
        "created_by": token.created_by,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
    }


def _audit(entry: AuditEntry) -> Document:
    return {
        "id": entry.id,
        "at": entry.at,
        "actor": entry.actor.as_document(),
        "action": entry.action,
        "target": {"type": entry.target[0], "id": entry.target[1]},
        "details": dict(entry.details),
    }
