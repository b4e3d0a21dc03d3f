"""Admin writes: the first admin, tokens, roles, retrying a send, messaging a user, acknowledging a
crisis alert, replaying or discarding parked events. The API and the CLI both call these.

Each write checks the caller's role, then commits its change together with its `audit_log` row
(one transaction where the deployment has them; otherwise the change first, then the row).
Messages leave through the admin's own outbox as `sms.outbound.requested`, so they take the
normal path: the sender's claim, its opt-out gate and its cap. Parked events live in RabbitMQ,
outside any transaction, so those writes are audited right after the broker confirmed them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime, timedelta
from typing import Any, Final

import structlog
from pymongo.errors import PyMongoError
from uuid_utils import compat as uuid_compat

from services.admin.auth import BOOTSTRAP_ACTOR, Actor, Role, mint_token, require
from services.admin.broker import BrokerAccess, consumer_queue
from services.admin.errors import BootstrapClosed, Conflict, InvalidRequest, NotFound
from services.admin.outbound_retry import (
    RETRY_KEY_MARKER,
    NotRetryable,
    RetryMode,
    base_key,
    resend_key,
    retry_mode,
    retryable,
)
from services.admin.queries import user_query
from services.admin.store import AdminStore, Session
from services.sms_sender.views import Send, SenderViews, refusal_reason
from services.sms_worker.records import User
from services.sms_worker.storage import MongoUsers
from shared.broker.parking import discard_parked, replay_parked
from shared.clock import Clock
from shared.events import Envelope, new_event
from shared.events.catalog import SmsOutboundRequested
from shared.mongo import Atomic, Database, Document
from shared.outbox import Outbox, OutboxRelay

log = structlog.get_logger(__name__)

# Admin messages are keyed `admin:<user id>:<request id>`: a repeated request id is one SMS.
ADMIN_MESSAGE_PREFIX: Final = "admin"
_MAX_REQUEST_ID_CHARS: Final = 128
_ROLE_VALUES: Final = frozenset(role.value for role in Role)


class AdminActions:
    def __init__(
        self,
        *,
        store: AdminStore,
        sms_db: Database,
        sender: SenderViews,
        outbox: Outbox,
        relay: OutboxRelay,
        atomic: Atomic,
        broker: BrokerAccess,
        clock: Clock,
        token_ttl: timedelta,
        max_body_chars: int,
    ) -> None:
        self._store = store
        self._sms_db = sms_db
        self._sender = sender
        self._outbox = outbox
        self._relay = relay
        self._atomic = atomic
        self._broker = broker
        self._clock = clock
        self._token_ttl = token_ttl
        self._max_body_chars = max_body_chars

    async def _user(self, ref: str) -> Document:
        user = await self._store.roles.find(user_query(ref))
        if user is None:
            raise NotFound("no such user")
        return user

    async def _ensure_user(self, phone: str, new_id: str, now: datetime, session: Session) -> str:
        """The id of the SMS worker's user with `phone`, created as `new_id` if there is none
        (through its repository, in this action's transaction)."""
        users = MongoUsers(self._sms_db, session)
        return (await users.add(User(id=new_id, phone=phone, created_at=now))).id

    async def _audited(
        self,
        actor: Actor,
        action: str,
        target: tuple[str, str],
        details: Document,
        change: Callable[[Session], Awaitable[Any]] | None = None,
    ) -> None:
        """Run `change` and append its audit row, atomically where transactions exist."""

        async def body(session: Session) -> None:
            if change is not None:
                await change(session)
            await self._store.audit.append(
                actor, action, target, self._clock.now(), details, session
            )

        await self._atomic(body)

    async def _publish_now(self) -> None:
        """Publish what this write queued; if the broker is away the relay retries later."""
        self._outbox.notify()
        with contextlib.suppress(PyMongoError):
            await self._relay.relay_once()

    # --- the first admin and tokens ---------------------------------------------------------------

    async def bootstrap_first_admin(self, phone: str, *, token_name: str | None) -> Document:
        """Make the user with `phone` (created if new) an admin and mint their first token.

        The caller has already presented the bootstrap token. Works once: refused when an admin
        exists or the bootstrap was used, and the unique marker settles a race between two.
        """
        if await self._store.state.bootstrap_spent() or await self._store.roles.holders(
            Role.ADMIN, 1
        ):
            raise BootstrapClosed("an admin exists; the bootstrap token no longer works")
        query = user_query(phone)
        if "phone" not in query:
            raise InvalidRequest("the first admin is named by phone number")
        now = self._clock.now()
        minted = mint_token()
        expires_at = now + self._token_ttl
        new_id = str(uuid_compat.uuid7())
        user_id = new_id

        async def body(session: Session) -> None:
            nonlocal user_id
            # An existing user (say, a caregiver on the team) keeps their id.
            user_id = await self._ensure_user(query["phone"], new_id, now, session)
            await self._store.state.spend_bootstrap(user_id, now, session)
            await self._store.roles.grant(user_id, Role.ADMIN, now, session)
            await self._store.tokens.insert(
                _token_row(
                    minted.token_id,
                    minted.token_hash,
                    user_id,
                    [Role.ADMIN],
                    token_name,
                    now,
                    expires_at,
                    BOOTSTRAP_ACTOR,
                ),
                session,
            )
            await self._store.audit.append(
                BOOTSTRAP_ACTOR,
                "admin.bootstrap",
                ("user", user_id),
                now,
                {"role": Role.ADMIN.value, "token_id": minted.token_id},
                session,
            )

        await self._atomic(body)
        log.warning("first admin created with the bootstrap token", user_id=user_id)
        return {
            "user_id": user_id,
            "roles": [Role.ADMIN.value],
            "token_id": minted.token_id,
            "token": minted.token,
            "expires_at": expires_at,
        }

    async def create_token(
        self,
        actor: Actor,
        user_ref: str,
        *,
        roles: Collection[Role] | None,
        ttl_days: float | None,
        name: str | None,
    ) -> Document:
        """Mint a token for a user, limited to roles they hold; the token is in this answer only."""
        require(actor, Role.ADMIN)
        user = await self._user(user_ref)
        held = {Role(r) for r in user.get("roles", []) if r in _ROLE_VALUES}
        wanted = set(roles) if roles else held
        if not wanted:
            raise Conflict("the user holds no admin role; grant one first")
        if not wanted <= held:
            missing = ", ".join(sorted(wanted - held))
            raise Conflict(f"the user does not hold: {missing}")
        ttl = self._token_ttl if ttl_days is None else timedelta(days=ttl_days)
        if ttl > self._token_ttl or ttl <= timedelta(0):
            raise InvalidRequest(f"ttl_days must be above 0 and at most {self._token_ttl.days}")
        now = self._clock.now()
        minted = mint_token()
        row = _token_row(
            minted.token_id,
            minted.token_hash,
            str(user["_id"]),
            wanted,
            name,
            now,
            now + ttl,
            actor,
        )

        async def insert(session: Session) -> None:
            await self._store.tokens.insert(row, session)

        details = {
            "user_id": row["user_id"],
            "roles": row["roles"],
            "expires_at": row["expires_at"],
        }
        await self._audited(actor, "token.create", ("token", minted.token_id), details, insert)
        return {
            "token_id": minted.token_id,
            "token": minted.token,
            "user_id": row["user_id"],
            "roles": row["roles"],
            "expires_at": row["expires_at"],
        }

    async def revoke_token(self, actor: Actor, token_id: str) -> Document:
        require(actor, Role.ADMIN)
        existing = await self._store.tokens.get(token_id)
        if existing is None:
            raise NotFound("no such token")
        now = self._clock.now()

        async def revoke(session: Session) -> None:
            if not await self._store.tokens.revoke(token_id, actor, now, session):
                raise Conflict("the token is already revoked")

        await self._audited(
            actor, "token.revoke", ("token", token_id), {"user_id": existing["user_id"]}, revoke
        )
        return {"token_id": token_id, "revoked_at": now}

    # --- roles ------------------------------------------------------------------------------------

    async def grant_role(self, actor: Actor, user_ref: str, role: Role) -> Document:
        """Give a user a role; a phone number that never texted us becomes a user here."""
        require(actor, Role.ADMIN)
        query = user_query(user_ref)
        user = await self._store.roles.find(query)
        now = self._clock.now()
        if user is None and "phone" not in query:
            raise NotFound("no such user")
        user_id = str(user["_id"]) if user is not None else str(uuid_compat.uuid7())

        async def grant(session: Session) -> None:
            if user is None:
                await self._ensure_user(query["phone"], user_id, now, session)
            await self._store.roles.grant(user_id, role, now, session)

        await self._audited(actor, "role.grant", ("user", user_id), {"role": role.value}, grant)
        return await self._roles_of(user_id)

    async def revoke_role(self, actor: Actor, user_ref: str, role: Role) -> Document:
        require(actor, Role.ADMIN)
        user = await self._user(user_ref)
        user_id = str(user["_id"])
        if role.value not in user.get("roles", []):
            raise Conflict(f"the user does not hold {role.value}")
        if role is Role.ADMIN and await self._store.roles.holders(Role.ADMIN, 2) < 2:
            raise Conflict("that would leave no admin")
        now = self._clock.now()

        async def revoke(session: Session) -> None:
            await self._store.roles.revoke(user_id, role, now, session)

        await self._audited(actor, "role.revoke", ("user", user_id), {"role": role.value}, revoke)
        return await self._roles_of(user_id)

    async def _roles_of(self, user_id: str) -> Document:
        user = await self._store.roles.user(user_id)
        return {"user_id": user_id, "roles": list((user or {}).get("roles", []))}

    # --- messages ---------------------------------------------------------------------------------

    async def send_message(
        self, actor: Actor, user_ref: str, body: str, *, request_id: str | None
    ) -> Document:
        """Text a user through the normal outbound path (opt-out gate, cap, exactly once)."""
        require(actor, Role.ADMIN)
        refusal = refusal_reason(body, self._max_body_chars)
        if refusal is not None:
            raise InvalidRequest(f"message refused: {refusal}")
        if request_id is not None and not 0 < len(request_id) <= _MAX_REQUEST_ID_CHARS:
            raise InvalidRequest(f"request_id must be 1 to {_MAX_REQUEST_ID_CHARS} characters")
        user = await self._user(user_ref)
        user_id, phone = str(user["_id"]), str(user["phone"])
        if await self._sender.opted_out(phone):
            raise Conflict("the user opted out of SMS")
        key = f"{ADMIN_MESSAGE_PREFIX}:{user_id}:{request_id or uuid_compat.uuid7()}"
        event = new_event(
            SmsOutboundRequested(
                to_number=phone, body=body, kind="admin", user_id=user_id, compliance=False
            ),
            idempotency_key=key,
            occurred_at=self._clock.now(),
        )
        await self._request(
            actor,
            "user.message",
            ("user", user_id),
            event,
            None,
            {"outbound_key": key, "chars": len(body)},
        )
        return {"outbound_key": key, "user_id": user_id, "status": "requested"}

    async def retry_outbound(self, actor: Actor, key: str) -> Document:
        """Ask again for a failed send (see `outbound_retry` for which and how)."""
        require(actor, Role.ADMIN)
        send = await self._sender.send(key)
        if send is None:
            raise NotFound("no such outbound message")
        try:
            mode = retry_mode(send.status, send.reason)
        except NotRetryable as error:
            raise Conflict(str(error)) from None
        if not send.compliance and await self._sender.opted_out(send.to_number):
            raise Conflict("the recipient opted out of SMS")
        original = send.request()
        if mode is RetryMode.REOPEN:
            event: Envelope[SmsOutboundRequested] = original
            # The same event once more: a row id of its own, or the outbox would drop it.
            row_id: str | None = f"{original.id}{RETRY_KEY_MARKER}{uuid_compat.uuid7()}"
        else:
            earlier = await self._retries_of(key)
            event = new_event(
                original.payload,
                idempotency_key=resend_key(key, len(earlier)),
                correlation_id=original.correlation_id,
                occurred_at=self._clock.now(),
            )
            row_id = None
        details = {"mode": mode.value, "outbound_key": event.idempotency_key}
        await self._request(actor, "outbound.retry", ("outbound", key), event, row_id, details)
        return {
            "key": key,
            "mode": mode.value,
            "outbound_key": event.idempotency_key,
            "status": "requested",
        }

    async def _retries_of(self, key: str) -> list[Send]:
        """Earlier admin retries of `key`'s series; refused while one may still go out."""
        earlier = await self._sender.sends_keyed_from(f"{base_key(key)}{RETRY_KEY_MARKER}")
        for send in earlier:
            if not retryable(send.status, send.reason):
                raise Conflict(f"already retried as {send.key} ({send.status})")
        return earlier

    async def _request(
        self,
        actor: Actor,
        action: str,
        target: tuple[str, str],
        event: Envelope[SmsOutboundRequested],
        row_id: str | None,
        details: Document,
    ) -> None:
        async def queue(session: Session) -> None:
            await self._outbox.add(event, session, row_id=row_id)

        await self._audited(actor, action, target, details, queue)
        await self._publish_now()

    # --- crisis alerts ----------------------------------------------------------------------------

    async def acknowledge_alert(self, actor: Actor, alert_id: str, *, note: str | None) -> Document:
        require(actor, Role.ADMIN)
        if await self._store.alerts.alert(alert_id) is None:
            raise NotFound("no such alert")
        now = self._clock.now()

        async def acknowledge(session: Session) -> None:
            if not await self._store.alerts.acknowledge(alert_id, actor, note, now, session):
                raise Conflict("the alert is already acknowledged")

        await self._audited(actor, "alert.acknowledge", ("alert", alert_id), {}, acknowledge)
        return {"alert_id": alert_id, "status": "acknowledged", "acknowledged_at": now}

    # --- parked events ----------------------------------------------------------------------------

    async def replay_parked(
        self, actor: Actor, queue: str, *, message_ids: Collection[str] | None, limit: int
    ) -> Document:
        """Move parked events back to their work queue (all of the first `limit`, or the ids)."""
        require(actor, Role.ADMIN)
        name = self._broker.settings.queue(consumer_queue(queue))
        async with self._broker.channel() as channel:
            moved = await replay_parked(channel, name, limit=limit, message_ids=message_ids)
        details = {"count": moved, "message_ids": sorted(message_ids) if message_ids else None}
        await self._audited(actor, "dlq.replay", ("queue", queue), details)
        return {"queue": queue, "replayed": moved}

    async def discard_parked(
        self,
        actor: Actor,
        queue: str,
        *,
        message_ids: Collection[str] | None,
        everything: bool,
        limit: int,
    ) -> Document:
        """Delete parked events for good: the ids given, or explicitly all of the first `limit`."""
        require(actor, Role.ADMIN)
        if not message_ids and not everything:
            raise InvalidRequest("name the message ids to discard, or ask for all of them")
        name = self._broker.settings.queue(consumer_queue(queue))
        async with self._broker.channel() as channel:
            removed = await discard_parked(
                channel, name, limit=limit, message_ids=message_ids or None
            )
        details = {"count": removed, "message_ids": sorted(message_ids) if message_ids else None}
        await self._audited(actor, "dlq.discard", ("queue", queue), details)
        return {"queue": queue, "discarded": removed}


def _token_row(
    token_id: str,
    token_hash: str,
    user_id: str,
    roles: Collection[Role],
    name: str | None,
    now: datetime,
    expires_at: datetime,
    created_by: Actor,
) -> Document:
    return {
        "_id": token_id,
        "hash": token_hash,
        "user_id": user_id,
        "roles": sorted(role.value for role in roles),
        "name": name,
        "created_at": now,
        "created_by": created_by.id,
        "expires_at": expires_at,
        "last_used_at": None,
        "revoked_at": None,
    }
