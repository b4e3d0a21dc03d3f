"""The admin's collections, their indexes, and the Mongo repositories over them.

All in the admin's own database (`MONGODB_DB_ADMIN`): `operators` (who may use the admin and
their roles, one per phone), `api_tokens` (hashes only), `audit_log` (append-only),
`auth_failures` (recent failed logins per client), `admin_state` (the spent bootstrap) and its
`outbox`. It writes no other service's data. Each repository converts between records
(`records.py`) and documents and is bound to a session when built (`unit_of_work.py`), so no
write can slip outside its transaction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.admin.errors import BootstrapClosed
from services.admin.records import Actor, ApiToken, AuditEntry, Operator, Role, roles_of
from shared.mongo import (
    BulkFailure,
    Database,
    Document,
    IndexDeclarations,
    Provenance,
    changed_since_migrated,
    migrated_from,
    upsert_absent,
)
from shared.outbox import outbox_indexes

OPERATORS: Final = "operators"
API_TOKENS: Final = "api_tokens"
AUDIT_LOG: Final = "audit_log"
AUTH_FAILURES: Final = "auth_failures"
ADMIN_STATE: Final = "admin_state"
_BOOTSTRAP: Final = "bootstrap"

Session = AsyncClientSession | None
Collection = AsyncCollection[Document]


def operator_indexes() -> IndexDeclarations:
    """Also applied by a data migration that creates operators, before its first batch."""
    return {
        OPERATORS: [
            IndexModel([("phone", ASCENDING)], name="phone_unique", unique=True),
            # Who holds a role: admins, and the last-admin check.
            IndexModel([("roles", ASCENDING)], name="by_role"),
        ]
    }


def admin_indexes(
    *, failed_auth_window_seconds: float, outbox_retention_days: float
) -> IndexDeclarations:
    return {
        **operator_indexes(),
        API_TOKENS: [
            IndexModel([("operator_id", ASCENDING), ("created_at", DESCENDING)], name="by_operator")
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


class _Repository:
    """One collection and the session every call on it runs in (None: each call alone)."""

    COLLECTION: str

    def __init__(self, db: Database, session: Session = None) -> None:
        self._collection: Collection = db[self.COLLECTION]
        self._session = session


def _role_values(roles: frozenset[Role]) -> list[str]:
    return sorted(role.value for role in roles)


def _operator(row: Document) -> Operator:
    return Operator(
        id=str(row["_id"]),
        phone=row["phone"],
        roles=roles_of(row.get("roles", ())),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _operator_fields(operator: Operator) -> Document:
    return {
        "_id": operator.id,
        "phone": operator.phone,
        "roles": _role_values(operator.roles),
        "created_at": operator.created_at,
        "updated_at": operator.updated_at,
    }


class MongoOperators(_Repository):
    """`operators`: `_id` = the operator id (never a phone, so it may appear in audit rows and
    events), `phone` unique, `roles`."""

    COLLECTION = OPERATORS

    async def get(self, operator_id: str) -> Operator | None:
        row = await self._collection.find_one({"_id": operator_id}, session=self._session)
        return _operator(row) if row is not None else None

    async def by_phone(self, phone: str) -> Operator | None:
        row = await self._collection.find_one({"phone": phone}, session=self._session)
        return _operator(row) if row is not None else None

    async def add(self, operator: Operator) -> Operator:
        """The operator already there for `operator.phone`, else `operator`, now stored. An
        upsert on the phone alone, so it never raises a duplicate key inside a transaction (a
        concurrent creation is a write conflict, and the transaction is retried)."""
        found = await self.by_phone(operator.phone)
        if found is not None:
            return found
        result = await self._collection.update_one(
            {"phone": operator.phone},
            {"$setOnInsert": _operator_fields(operator)},
            upsert=True,
            session=self._session,
        )
        if result.upserted_id is not None:
            return operator
        stored = await self.by_phone(operator.phone)
        if stored is None:
            raise RuntimeError("the operator upsert matched a row it cannot read; retry")
        return stored

    async def grant(self, operator_id: str, role: Role, now: datetime) -> bool:
        """False when the operator holds the role already (or does not exist)."""
        result = await self._collection.update_one(
            {"_id": operator_id, "roles": {"$ne": role.value}},
            {"$addToSet": {"roles": role.value}, "$set": {"updated_at": now}},
            session=self._session,
        )
        return result.modified_count == 1

    async def revoke(self, operator_id: str, role: Role, now: datetime) -> bool:
        """False when the operator does not hold the role."""
        result = await self._collection.update_one(
            {"_id": operator_id, "roles": role.value},
            {"$pull": {"roles": role.value}, "$set": {"updated_at": now}},
            session=self._session,
        )
        return result.modified_count == 1

    async def holders(self, role: Role, limit: int) -> int:
        """How many operators hold `role`, counting no further than `limit`."""
        return await self._collection.count_documents(
            {"roles": role.value}, limit=limit, session=self._session
        )

    async def import_many(
        self, operators: Sequence[Operator], provenance: Provenance
    ) -> list[BulkFailure]:
        """A data migration's operators in one unordered write: each created unless its phone
        has an operator already (the live roles win, a replay adds nothing), tagged with
        `provenance` so the migration's verify and rollback can find what it created."""
        return await upsert_absent(
            self._collection,
            "phone",
            [{**_operator_fields(operator), **provenance.fields()} for operator in operators],
        )

    async def delete_migrated(self, source: str) -> int:
        """A data migration's rollback: remove the operators it created from `source`."""
        result = await self._collection.delete_many(migrated_from(source), session=self._session)
        return result.deleted_count

    async def migrated_count(self, source: str) -> int:
        """How many operators a migration from `source` created (its verify)."""
        return await self._collection.count_documents(migrated_from(source), session=self._session)

    async def unchanged_import(self, phone: str, source: str) -> Operator | None:
        """The operator a migration from `source` created for `phone`, if nobody changed it
        since; None for an operator the admin made or changed (the live roles are not the
        legacy copy's to judge)."""
        row = await self._collection.find_one(
            {"phone": phone, **migrated_from(source)}, session=self._session
        )
        if row is None or changed_since_migrated(row):
            return None
        return _operator(row)


def _token(row: Document) -> ApiToken:
    return ApiToken(
        id=str(row["_id"]),
        hash=row["hash"],
        operator_id=row["operator_id"],
        roles=roles_of(row.get("roles", ())),
        name=row.get("name"),
        created_at=row["created_at"],
        created_by=row["created_by"],
        expires_at=row["expires_at"],
        last_used_at=row.get("last_used_at"),
        revoked_at=row.get("revoked_at"),
        revoked_by=row.get("revoked_by"),
    )


class MongoApiTokens(_Repository):
    """`api_tokens`: `_id` = the public token id, `hash` = SHA-256 of the whole token."""

    COLLECTION = API_TOKENS

    async def add(self, token: ApiToken) -> None:
        await self._collection.insert_one(
            {
                "_id": token.id,
                "hash": token.hash,
                "operator_id": token.operator_id,
                "roles": _role_values(token.roles),
                "name": token.name,
                "created_at": token.created_at,
                "created_by": token.created_by,
                "expires_at": token.expires_at,
                "last_used_at": token.last_used_at,
                "revoked_at": token.revoked_at,
                "revoked_by": token.revoked_by,
            },
            session=self._session,
        )

    async def get(self, token_id: str) -> ApiToken | None:
        row = await self._collection.find_one({"_id": token_id}, session=self._session)
        return _token(row) if row is not None else None

    async def touch(self, token_id: str, now: datetime, interval: timedelta) -> None:
        """Record a use, at most once per `interval`: a read should not cost a write each."""
        await self._collection.update_one(
            {
                "_id": token_id,
                "$or": [{"last_used_at": None}, {"last_used_at": {"$lte": now - interval}}],
            },
            {"$set": {"last_used_at": now}},
            session=self._session,
        )

    async def revoke(self, token_id: str, by: Actor, now: datetime) -> bool:
        """False when the token is revoked already (or does not exist)."""
        result = await self._collection.update_one(
            {"_id": token_id, "revoked_at": None},
            {"$set": {"revoked_at": now, "revoked_by": by.id}},
            session=self._session,
        )
        return result.modified_count == 1

    async def listing(self, operator_id: str | None, limit: int) -> list[ApiToken]:
        """Tokens (all, or one operator's), newest first."""
        query = {} if operator_id is None else {"operator_id": operator_id}
        cursor = self._collection.find(query, session=self._session).sort("created_at", DESCENDING)
        return [_token(row) async for row in cursor.limit(limit)]


def _audit_entry(row: Document) -> AuditEntry:
    actor = row["actor"]
    return AuditEntry(
        id=str(row["_id"]),
        at=row["at"],
        actor=Actor(
            kind=actor["kind"],
            id=actor["id"],
            operator_id=actor.get("operator_id"),
            roles=roles_of(actor.get("roles", ())),
        ),
        action=row["action"],
        target=(row["target"]["type"], row["target"]["id"]),
        details=row.get("details") or {},
    )


class MongoAuditLog(_Repository):
    """`audit_log`: one row per admin write. Append-only: this class has no way to change or
    remove a row, and nothing else writes the collection."""

    COLLECTION = AUDIT_LOG

    async def append(self, entry: AuditEntry) -> None:
        await self._collection.insert_one(
            {
                "_id": entry.id,
                "at": entry.at,
                "actor": entry.actor.as_document(),
                "action": entry.action,
                "target": {"type": entry.target[0], "id": entry.target[1]},
                "details": dict(entry.details),
            },
            session=self._session,
        )

    async def recent(self, limit: int, target_id: str | None = None) -> list[AuditEntry]:
        """The newest entries, newest first (all, or those about one target)."""
        query = {} if target_id is None else {"target.id": target_id}
        cursor = self._collection.find(query, session=self._session).sort("at", DESCENDING)
        return [_audit_entry(row) async for row in cursor.limit(limit)]

    async def recorded(self, action: str, target: tuple[str, str]) -> bool:
        """Whether `action` was ever recorded on `target` (a command already given)."""
        row = await self._collection.find_one(
            {"target.id": target[1], "target.type": target[0], "action": action},
            {"_id": 1},
            session=self._session,
        )
        return row is not None


class MongoAdminState(_Repository):
    """`admin_state`: the bootstrap marker — once written, the bootstrap token is spent."""

    COLLECTION = ADMIN_STATE

    async def bootstrap_spent(self) -> bool:
        row = await self._collection.find_one(
            {"_id": _BOOTSTRAP}, {"_id": 1}, session=self._session
        )
        return row is not None

    async def spend_bootstrap(self, operator_id: str, now: datetime) -> None:
        """The unique `_id` lets exactly one bootstrap through, however many race."""
        try:
            await self._collection.insert_one(
                {"_id": _BOOTSTRAP, "operator_id": operator_id, "at": now}, session=self._session
            )
        except DuplicateKeyError:
            raise BootstrapClosed("the bootstrap token has been used") from None


class MongoFailedAttempts:
    """`auth_failures`: per client, the newest `limit` failure times, newest first. The client
    is refused while the oldest of those is still inside the window (a sliding window). Never
    part of a transaction: a refused request must count even though it changes nothing else."""

    def __init__(self, db: Database, *, limit: int, window: timedelta) -> None:
        self._collection: Collection = db[AUTH_FAILURES]
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
