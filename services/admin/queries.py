"""What admins and support read: metrics, a user's whole picture, crisis alerts, failed sends,
parked events, migrations, tokens and the audit log — read-only views over each service's data.

Every read takes the caller and answers with the model for them (`services/admin/schemas.py`):
`support` gets the masked models — phone numbers with all but the last four digits masked, no
names, e-mail, ZIP code or message text — and `admin` the full ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol
from zoneinfo import ZoneInfo

from services.admin.auth import Actor, Role, require
from services.admin.broker import BrokerAccess, QueueDepth, consumer_queue
from services.admin.errors import BrokerUnavailable, InvalidRequest, NotFound
from services.admin.outbound_retry import FAILED_STATUSES, retryable
from services.admin.records import BILLING_ACTIONS, BILLING_REQUEST
from services.admin.schemas import (
    AlertCounts,
    AlertSummary,
    AuditRecord,
    BillingRequest,
    FailedSend,
    MaskedFailedSend,
    MaskedUserDetail,
    MessagesToday,
    Metrics,
    MigrationProgress,
    TokenListing,
    UserCounts,
    UserDetail,
    UserRecords,
)
from services.admin.unit_of_work import AdminRepositories
from services.billing_worker.views import BillingViews
from services.sms_sender.views import SenderViews
from services.sms_worker.views import SmsWorkerViews, User
from shared.broker.parking import ParkedEvent, list_parked
from shared.clock import Clock
from shared.migrations.runner import MIGRATIONS_COLLECTION
from shared.mongo import Database
from shared.phones import InvalidPhoneNumber, normalise_phone

_WEEK: Final = timedelta(days=7)
_NONE: Final = "none"


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

    async def metrics(self, actor: Actor) -> Metrics:
        """The system at a glance; queue figures are None when the broker does not answer."""
        require(actor, Role.SUPPORT)
        now = self._clock.now()
        week_ago = now - _WEEK
        today = start_of_day(now, self._timezone)
        counts = await self._sms.counts(
            active_since=week_ago, messages_since=today, alerts_since=week_ago
        )
        try:
            queues: dict[str, QueueDepth] | None = await self._broker.queue_depths()
        except BrokerUnavailable:
            queues = None
        directions = _counts(counts.messages_by_direction)
        return Metrics(
            at=now,
            users=UserCounts(
                total=counts.users,
                by_journey_phase=_counts(counts.by_journey_phase),
                by_burnout_band=_counts(counts.by_burnout_band),
                active_7d=counts.active,
            ),
            messages_today=MessagesToday(
                since=today,
                inbound=directions.get("inbound", 0),
                outbound=directions.get("outbound", 0),
            ),
            crisis_alerts_7d=AlertCounts(
                total=counts.alerts,
                by_severity=_counts(counts.alerts_by_severity),
                open=counts.open_alerts,
            ),
            outbound_by_status=await self._sender.count_by_status(),
            queues=queues,
            parked_total=(
                sum(q.parked or 0 for q in queues.values()) if queues is not None else None
            ),
        )

    # --- users ------------------------------------------------------------------------------------

    async def user(self, actor: Actor, ref: str) -> UserDetail | MaskedUserDetail:
        """Identity, the roles of the phone's operator, profile, conversation summary, billing
        state and the last messages: in full for admins, masked for support."""
        require(actor, Role.SUPPORT)
        user = await sms_user(self._sms, ref)
        operator = await self._admin.operators.by_phone(user.phone)
        records = UserRecords(
            user=user,
            operator_id=operator.id if operator is not None else None,
            operator_roles=sorted(operator.roles) if operator is not None else [],
            profile=await self._sms.profile(user.id),
            conversation=await self._sms.conversation(user.id),
            billing=await self._billing.account(user.phone),
            messages=await self._sms.recent_messages(user.id, self._recent_messages),
        )
        return UserDetail.of(records) if actor.sees_pii else MaskedUserDetail.of(records)

    # --- alerts, failed sends, migrations ---------------------------------------------------------

    async def crisis_alerts(
        self, actor: Actor, *, status: str | None, limit: int
    ) -> list[AlertSummary]:
        require(actor, Role.SUPPORT)
        alerts = await self._sms.alerts(status=status, limit=limit)
        return [AlertSummary.of(alert) for alert in alerts]

    async def failed_outbound(
        self, actor: Actor, *, limit: int
    ) -> list[FailedSend] | list[MaskedFailedSend]:
        """Sends that did not reach the recipient, newest first, with whether a retry may help:
        in full for admins, masked for support."""
        require(actor, Role.SUPPORT)
        sends = await self._sender.sends_with_status(FAILED_STATUSES, limit=limit)
        if actor.sees_pii:
            return [FailedSend.of(s, retryable=retryable(s.status, s.reason)) for s in sends]
        return [MaskedFailedSend.of(s, retryable=retryable(s.status, s.reason)) for s in sends]

    async def migrations(self, actor: Actor) -> list[MigrationProgress]:
        """The `migrations` progress records, read-only (the migration runner owns them)."""
        require(actor, Role.SUPPORT)
        cursor = self._migrations.find({}, {"error_samples": 0}).sort("_id", 1)
        return [
            MigrationProgress(
                id=str(record["_id"]),
                description=record.get("description"),
                status=record.get("status"),
                phase=record.get("phase"),
                started_at=record.get("started_at"),
                finished_at=record.get("finished_at"),
                last_error=record.get("last_error"),
                lease_until=record.get("lease_until"),
                checkpoint={
                    name: value
                    for name, value in (record.get("checkpoint") or {}).items()
                    if name != "last_id"
                },
            )
            async for record in cursor
        ]

    # --- billing requests ---------------------------------------------------------------------

    async def billing_request(self, actor: Actor, request_id: str) -> BillingRequest:
        """An operator's request to billing: as billing recorded it once handled, until then as
        the admin's audit log has it (`requested`)."""
        require(actor, Role.ADMIN)
        outcome = await self._billing.operator_request(request_id)
        if outcome is not None:
            return BillingRequest.of(outcome)
        for entry in await self._admin.audit.recent(1, request_id):
            kind = BILLING_ACTIONS.get(entry.action)
            if kind is not None and entry.target == (BILLING_REQUEST, request_id):
                return BillingRequest(
                    request_id=request_id,
                    kind=kind,
                    status="requested",
                    requested_by=entry.actor.who,
                    requested_at=entry.at,
                )
        raise NotFound("no such billing request")

    # --- parked events ----------------------------------------------------------------------------

    async def parked(self, actor: Actor, queue: str, *, limit: int) -> list[ParkedEvent]:
        """Metadata of the events parked in `<queue>.dlq` (never their bodies)."""
        require(actor, Role.SUPPORT)
        name = self._broker.settings.queue(consumer_queue(queue))
        async with self._broker.channel() as channel:
            return await list_parked(channel, name, limit=limit)

    # --- the admin's own records ---------------------------------------------------------------

    async def tokens(
        self, actor: Actor, *, operator_id: str | None, limit: int
    ) -> list[TokenListing]:
        require(actor, Role.ADMIN)
        return [
            TokenListing.of(token) for token in await self._admin.tokens.listing(operator_id, limit)
        ]

    async def audit(self, actor: Actor, *, target: str | None, limit: int) -> list[AuditRecord]:
        require(actor, Role.ADMIN)
        return [AuditRecord.of(entry) for entry in await self._admin.audit.recent(limit, target)]
