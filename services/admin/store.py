"""The admin's collections and every write it makes, with their indexes.

Its own database (`MONGODB_DB_ADMIN`): `api_tokens` (hashes only), `audit_log` (append-only),
`auth_failures` (recent failed logins per client), `admin_state` (the spent bootstrap) and its
`outbox`. In the SMS worker's database it owns two things and writes nothing else: `users.roles`
(the worker creates users with no roles and never changes them) and the acknowledgement of a
crisis alert (`alerts.status` open → acknowledged).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, Final

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError
from uuid_utils import compat as uuid_compat

from services.admin.auth import Actor, Role
from services.admin.errors import BootstrapClosed
from services.sms_worker.storage import ALERTS, USERS
from shared.mongo import Database, Document, IndexDeclarations
from shared.outbox import outbox_indexes

API_TOKENS: Final = "api_tokens"
AUDIT_LOG: Final = "audit_log"
AUTH_FAILURES: Final = "auth_failures"
ADMIN_STATE: Final = "admin_state"
_BOOTSTRAP: Final = "bootstrap"
ALERT_OPEN: Final = "open"
ALERT_ACKNOWLEDGED: Final = "acknowledged"

Session = AsyncClientSession | None
Collection = AsyncCollection[Document]


def admin_indexes(
    *, failed_auth_window_seconds: float, outbox_retention_days: float
) -> IndexDeclarations:
    return {
        API_TOKENS: [
            IndexModel([("user_id", ASCENDING), ("created_at", DESCENDING)], name="by_user")
        ],
        AUDIT_LOG: [
            IndexModel([("at", DESCENDING)], name="by_time"),
            IndexModel([("target.id", ASCENDING), ("at", DESCENDING)], name="by_target"),
            IndexModel([("actor.id", ASCENDING), ("at", DESCENDING)], name="by_actor"),
        ],
        # A client's failures are forgotten one window after its last one.
        AUTH_FAILURES: [
            IndexModel(
                [("updated_at", ASCENDING)],
                name="failures_ttl",
                expireAfterSeconds=math.ceil(failed_auth_window_seconds),
            )
        ],
        **outbox_indexes(outbox_retention_days),
    }


def role_indexes() -> IndexDeclarations:
    """Declared on the SMS worker's database: who holds a role (admins, the last-admin check)."""
    return {USERS: [IndexModel([("roles", ASCENDING)], name="by_role")]}


class ApiTokens:
    """`api_tokens`: `_id` = the public token id, `hash` = SHA-256 of the whole token."""

    def __init__(self, collection: Collection) -> None:
        self._collection = collection

    async def insert(self, row: Document, session: Session) -> None:
        await self._collection.insert_one(row, session=session)

    async def get(self, token_id: str) -> Document | None:
        return await self._collection.find_one({"_id": token_id})

    async def touch(self, token_id: str, now: datetime, interval: timedelta) -> None:
        """Record a use, at most once per `interval`: a read should not cost a write each."""
        await self._collection.update_one(
            {
                "_id": token_id,
                "$or": [{"last_used_at": None}, {"last_used_at": {"$lte": now - interval}}],
            },
            {"$set": {"last_used_at": now}},
        )

    async def revoke(self, token_id: str, by: Actor, now: datetime, session: Session) -> bool:
        result = await self._collection.update_one(
            {"_id": token_id, "revoked_at": None},
            {"$set": {"revoked_at": now, "revoked_by": by.id}},
            session=session,
        )
        return result.modified_count == 1

    async def listing(self, user_id: str | None, limit: int) -> list[Document]:
        query = {} if user_id is None else {"user_id": user_id}
        cursor = self._collection.find(query, {"hash": 0}).sort("created_at", DESCENDING)
        return [row async for row in cursor.limit(limit)]


class AuditLog:
    """`audit_log`: one row per admin write — who, what, when, target. Append-only: this class
    has no way to change or remove a row, and nothing else writes the collection."""

    def __init__(self, collection: Collection) -> None:
        self._collection = collection

    async def append(
        self,
        actor: Actor,
        action: str,
        target: tuple[str, str],
        now: datetime,
        details: Document,
        session: Session,
    ) -> str:
        entry_id = str(uuid_compat.uuid7())
        await self._collection.insert_one(
            {
                "_id": entry_id,
                "at": now,
                "actor": actor.as_document(),
                "action": action,
                "target": {"type": target[0], "id": target[1]},
                "details": details,
            },
            session=session,
        )
        return entry_id

    async def recent(self, limit: int, target_id: str | None = None) -> list[Document]:
        query = {} if target_id is None else {"target.id": target_id}
        cursor = self._collection.find(query).sort("at", DESCENDING).limit(limit)
        return [row async for row in cursor]


class FailedAttempts:
    """`auth_failures`: per client, the newest `limit` failure times, newest first. The client
    is refused while the oldest of those is still inside the window (a sliding window)."""

    def __init__(self, collection: Collection, *, limit: int, window: timedelta) -> None:
        self._collection = collection
        self._limit = limit
        self._window = window

    async def blocked_for(self, client: str, now: datetime) -> timedelta | None:
        row = await self._collection.find_one({"_id": client}, {"times": 1})
        times: list[datetime] = row.get("times", []) if row else []
        if len(times) < self._limit:
            return None
        free_at = times[self._limit - 1] + self._window
        return free_at - now if free_at > now else None

    async def record(self, client: str, now: datetime) -> None:
        update = {
            "$push": {"times": {"$each": [now], "$position": 0, "$slice": self._limit}},
            "$set": {"updated_at": now},
        }
        try:
            await self._collection.update_one({"_id": client}, update, upsert=True)
        except DuplicateKeyError:
            # A concurrent first failure of this client created the row: add to it.
            await self._collection.update_one({"_id": client}, update)


class AdminState:
    """`admin_state`: the bootstrap marker — once written, the bootstrap token is spent."""

    def __init__(self, collection: Collection) -> None:
        self._collection = collection

    async def bootstrap_spent(self) -> bool:
        return await self._collection.find_one({"_id": _BOOTSTRAP}, {"_id": 1}) is not None

    async def spend_bootstrap(self, user_id: str, now: datetime, session: Session) -> None:
        """The unique `_id` lets exactly one bootstrap through, however many race."""
        try:
            await self._collection.insert_one(
                {"_id": _BOOTSTRAP, "user_id": user_id, "at": now}, session=session
            )
        except DuplicateKeyError:
            raise BootstrapClosed("the bootstrap token has been used") from None


class UserRoles:
    """`users.roles` in the SMS worker's database: the only user field the admin writes."""

    def __init__(self, users: Collection) -> None:
        self._users = users

    async def user(self, user_id: str) -> Document | None:
        return await self._users.find_one({"_id": user_id})

    async def find(self, query: Document) -> Document | None:
        """The user a `queries.user_query` names (by id or by phone)."""
        return await self._users.find_one(query)

    async def holders(self, role: Role, limit: int) -> int:
        """How many users hold `role`, counting no further than `limit`."""
        return await self._users.count_documents({"roles": role.value}, limit=limit)

    async def grant(self, user_id: str, role: Role, now: datetime, session: Session) -> bool:
        result = await self._users.update_one(
            {"_id": user_id, "roles": {"$ne": role.value}},
            {"$addToSet": {"roles": role.value}, "$set": {"updated_at": now}},
            session=session,
        )
        return result.modified_count == 1

    async def revoke(self, user_id: str, role: Role, now: datetime, session: Session) -> bool:
        result = await self._users.update_one(
            {"_id": user_id, "roles": role.value},
            {"$pull": {"roles": role.value}, "$set": {"updated_at": now}},
            session=session,
        )
        return result.modified_count == 1


class AlertAcknowledgements:
    """An open crisis alert (SMS worker's `alerts`) marked as seen by a person, once."""

    def __init__(self, alerts: Collection) -> None:
        self._alerts = alerts

    async def alert(self, alert_id: str) -> Document | None:
        return await self._alerts.find_one({"_id": alert_id})

    async def acknowledge(
        self, alert_id: str, by: Actor, note: str | None, now: datetime, session: Session
    ) -> bool:
        fields: dict[str, Any] = {
            "status": ALERT_ACKNOWLEDGED,
            "acknowledged_at": now,
            "acknowledged_by": by.id,
        }
        if note:
            fields["acknowledgement_note"] = note
        result = await self._alerts.update_one(
            {"_id": alert_id, "status": ALERT_OPEN}, {"$set": fields}, session=session
        )
        return result.modified_count == 1


class AdminStore:
    """Every collection above, over the admin database and the SMS worker's."""

    def __init__(
        self,
        admin_db: Database,
        sms_db: Database,
        *,
        failed_auth_limit: int,
        failed_auth_window: timedelta,
    ) -> None:
        self.tokens = ApiTokens(admin_db[API_TOKENS])
        self.audit = AuditLog(admin_db[AUDIT_LOG])
        self.failures = FailedAttempts(
            admin_db[AUTH_FAILURES], limit=failed_auth_limit, window=failed_auth_window
        )
        self.state = AdminState(admin_db[ADMIN_STATE])
        self.roles = UserRoles(sms_db[USERS])
        self.alerts = AlertAcknowledgements(sms_db[ALERTS])
