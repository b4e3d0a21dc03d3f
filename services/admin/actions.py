"""Admin writes: the first admin, tokens, roles, retrying a send, messaging a user, acknowledging a
crisis alert, asking billing for a reconcile or a Checkout link, replaying or discarding parked
events. The API and the CLI both call these.

Each write checks the caller's role, then commits its change together with its `audit_log` row in
one transaction of the admin's own database (`AdminWork`). The admin writes no other service's
data: a message, a retry, an alert's acknowledgement and a request to billing leave through the
admin's outbox as events the owning service consumes (`sms.outbound.requested` for the sender,
whose claim, opt-out gate and cap apply; `crisis.alert.acknowledged` for the SMS worker;
`billing.reconcile.requested` and `billing.checkout_link.requested` for billing, which alone
holds the Stripe key). Parked events live in RabbitMQ, outside any transaction, so those writes
are audited right after the broker confirmed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from datetime import datetime, timedelta
from typing import Any, Final, Literal, Protocol

import structlog
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
from services.admin.queries import UserReads, reference, sms_user
from services.admin.records import (
    BILLING_CHECKOUT_LINK,
    BILLING_RECONCILE,
    BILLING_REQUEST,
    ApiToken,
    AuditEntry,
    Operator,
)
from services.admin.schemas import (
    AcknowledgementRequested,
    BillingRequest,
    Discarded,
    MessageRequested,
    NewToken,
    OperatorRoles,
    Replayed,
    RetryRequested,
    TokenRevoked,
)
from services.admin.unit_of_work import AdminRepositories, AdminTransactions, AdminWork
from services.sms_sender.views import Send, refusal_reason
from services.sms_worker.views import ALERT_OPEN, Alert
from shared.broker.parking import discard_parked, replay_parked
from shared.clock import Clock
from shared.events import Envelope, new_event
from shared.events.catalog import (
    BillingReconcileRequested,
    CheckoutLinkRequested,
    CrisisAlertAcknowledged,
    SmsOutboundRequested,
)
from shared.mongo import Document

log = structlog.get_logger(__name__)

# Admin messages are keyed `admin:<user id>:<request id>`: a repeated request id is one SMS.
ADMIN_MESSAGE_PREFIX: Final = "admin"
# One acknowledgement per alert, however often it is asked for: the key names the alert.
ALERT_ACK_PREFIX: Final = "alert-ack"
ALERT_ACKNOWLEDGE: Final = "alert.acknowledge"
_MAX_REQUEST_ID_CHARS: Final = 128
# A request to billing is keyed `billing-request:<request id>`: one event per request.
BILLING_REQUEST_PREFIX: Final = "billing-request"


class SmsWorkerReads(UserReads, Protocol):
    """What the admin's writes read of the SMS worker (`services/sms_worker/views.py`)."""

    async def alert(self, alert_id: str) -> Alert | None: ...


class SenderReads(Protocol):
    """What the admin's writes read of the sender (`services/sms_sender/views.py`)."""

    async def opted_out(self, phone: str) -> bool: ...

    async def send(self, key: str) -> Send | None: ...

    async def sends_keyed_from(self, prefix: str) -> list[Send]: ...


class AdminActions:
    def __init__(
        self,
        *,
        repositories: AdminRepositories,
        transactions: AdminTransactions,
        sms: SmsWorkerReads,
        sender: SenderReads,
        broker: BrokerAccess,
        clock: Clock,
        token_ttl: timedelta,
        max_body_chars: int,
        publish_now: Callable[[], Awaitable[None]],
    ) -> None:
        """`publish_now` hurries what a write queued in the outbox to the broker (the relay
        publishes it anyway, later, if the broker is away)."""
        self._admin = repositories
        self._transactions = transactions
        self._sms = sms
        self._sender = sender
        self._broker = broker
        self._clock = clock
        self._token_ttl = token_ttl
        self._max_body_chars = max_body_chars
        self._publish_now = publish_now

    async def _audited(
        self,
        actor: Actor,
        action: str,
        target: tuple[str, str],
        details: Document,
        change: Callable[[AdminWork], Awaitable[Any]] | None = None,
    ) -> None:
        """Run `change` and append its audit row, in one transaction."""
        now = self._clock.now()

        async def body(uow: AdminWork) -> None:
            if change is not None:
                await change(uow)
            await uow.audit.append(_entry(actor, action, target, details, now))

        await self._transactions.run(body)

    # --- who a request names ----------------------------------------------------------------------

    async def _phone_and_operator(self, ref: str) -> tuple[str, Operator | None]:
        """The phone a reference names and that phone's operator, if any. An id is an operator's,
        or an SMS-worker user's (whose phone then names the operator)."""
        named = reference(ref)
        if named.phone is not None:
            return named.phone, await self._admin.operators.by_phone(named.phone)
        operator = await self._admin.operators.get(str(named.id))
        if operator is not None:
            return operator.phone, operator
        user = await self._sms.user(str(named.id))
        if user is None:
            raise NotFound("no such operator or user")
        return user.phone, await self._admin.operators.by_phone(user.phone)

    async def _operator(self, ref: str) -> Operator:
        _, operator = await self._phone_and_operator(ref)
        if operator is None:
            raise Conflict("that person holds no admin role; grant one first")
        return operator

    def _new_operator(self, phone: str, now: datetime) -> Operator:
        return Operator(
            id=str(uuid_compat.uuid7()),
            phone=phone,
            roles=frozenset(),
            created_at=now,
            updated_at=now,
        )

    # --- the first admin and tokens ---------------------------------------------------------------

    async def bootstrap_first_admin(self, phone: str, *, token_name: str | None) -> NewToken:
        """Make the operator with `phone` (created if new) an admin and mint their first token.

        The caller has already presented the bootstrap token. Works once: refused when an admin
        exists or the bootstrap was used, and the unique marker settles a race between two.
        """
        if await self._admin.state.bootstrap_spent() or await self._admin.operators.holders(
            Role.ADMIN, 1
        ):
            raise BootstrapClosed("an admin exists; the bootstrap token no longer works")
        named = reference(phone)
        if named.phone is None:
            raise InvalidRequest("the first admin is named by phone number")
        now = self._clock.now()
        minted = mint_token()
        expires_at = now + self._token_ttl

        async def body(uow: AdminWork) -> Operator:
            # An existing operator (say, one that lost their role) keeps their id.
            admin = await uow.operators.add(self._new_operator(str(named.phone), now))
            await uow.state.spend_bootstrap(admin.id, now)
            await uow.operators.grant(admin.id, Role.ADMIN, now)
            await uow.tokens.add(
                ApiToken(
                    id=minted.token_id,
                    hash=minted.token_hash,
                    operator_id=admin.id,
                    roles=frozenset({Role.ADMIN}),
                    name=token_name,
                    created_at=now,
                    created_by=BOOTSTRAP_ACTOR.id,
                    expires_at=expires_at,
                )
            )
            await uow.audit.append(
                _entry(
                    BOOTSTRAP_ACTOR,
                    "admin.bootstrap",
                    ("operator", admin.id),
                    {"role": Role.ADMIN.value, "token_id": minted.token_id},
                    now,
                )
            )
            return admin

        admin = await self._transactions.run(body)
        log.warning("first admin created with the bootstrap token", operator_id=admin.id)
        return NewToken(
            token_id=minted.token_id,
            token=minted.token,
            operator_id=admin.id,
            roles=[Role.ADMIN],
            expires_at=expires_at,
        )

    async def create_token(
        self,
        actor: Actor,
        operator_ref: str,
        *,
        roles: Collection[Role] | None,
        ttl_days: float | None,
        name: str | None,
    ) -> NewToken:
        """Mint a token for an operator, limited to roles they hold; the token is in this
        answer only."""
        require(actor, Role.ADMIN)
        owner = await self._operator(operator_ref)
        wanted = frozenset(roles) if roles else owner.roles
        if not wanted:
            raise Conflict("that person holds no admin role; grant one first")
        if not wanted <= owner.roles:
            missing = ", ".join(sorted(wanted - owner.roles))
            raise Conflict(f"the operator does not hold: {missing}")
        ttl = self._token_ttl if ttl_days is None else timedelta(days=ttl_days)
        if ttl > self._token_ttl or ttl <= timedelta(0):
            raise InvalidRequest(f"ttl_days must be above 0 and at most {self._token_ttl.days}")
        now = self._clock.now()
        minted = mint_token()
        token = ApiToken(
            id=minted.token_id,
            hash=minted.token_hash,
            operator_id=owner.id,
            roles=wanted,
            name=name,
            created_at=now,
            created_by=actor.id,
            expires_at=now + ttl,
        )

        async def add(uow: AdminWork) -> None:
            await uow.tokens.add(token)

        roles_granted = sorted(token.roles)
        details = {"operator_id": owner.id, "roles": roles_granted, "expires_at": token.expires_at}
        await self._audited(actor, "token.create", ("token", token.id), details, add)
        return NewToken(
            token_id=token.id,
            token=minted.token,
            operator_id=owner.id,
            roles=roles_granted,
            expires_at=token.expires_at,
        )

    async def revoke_token(self, actor: Actor, token_id: str) -> TokenRevoked:
        require(actor, Role.ADMIN)
        existing = await self._admin.tokens.get(token_id)
        if existing is None:
            raise NotFound("no such token")
        now = self._clock.now()

        async def revoke(uow: AdminWork) -> None:
            if not await uow.tokens.revoke(token_id, actor, now):
                raise Conflict("the token is already revoked")

        details = {"operator_id": existing.operator_id}
        await self._audited(actor, "token.revoke", ("token", token_id), details, revoke)
        return TokenRevoked(token_id=token_id, revoked_at=now)

    # --- roles ------------------------------------------------------------------------------------

    async def grant_role(self, actor: Actor, ref: str, role: Role) -> OperatorRoles:
        """Give the person a role; a phone with no operator yet (who may never have texted us)
        becomes one here."""
        require(actor, Role.ADMIN)
        phone, operator = await self._phone_and_operator(ref)
        now = self._clock.now()
        candidate = operator or self._new_operator(phone, now)

        async def grant(uow: AdminWork) -> Operator:
            stored = await uow.operators.add(candidate)
            await uow.operators.grant(stored.id, role, now)
            await uow.audit.append(
                _entry(actor, "role.grant", ("operator", stored.id), {"role": role.value}, now)
            )
            return stored

        granted = await self._transactions.run(grant)
        return await self._roles_of(granted.id)

    async def revoke_role(self, actor: Actor, ref: str, role: Role) -> OperatorRoles:
        require(actor, Role.ADMIN)
        operator = await self._operator(ref)
        if role not in operator.roles:
            raise Conflict(f"the operator does not hold {role.value}")
        if role is Role.ADMIN and await self._admin.operators.holders(Role.ADMIN, 2) < 2:
            raise Conflict("that would leave no admin")
        now = self._clock.now()

        async def revoke(uow: AdminWork) -> None:
            await uow.operators.revoke(operator.id, role, now)

        target = ("operator", operator.id)
        await self._audited(actor, "role.revoke", target, {"role": role.value}, revoke)
        return await self._roles_of(operator.id)

    async def _roles_of(self, operator_id: str) -> OperatorRoles:
        operator = await self._admin.operators.get(operator_id)
        roles = sorted(operator.roles) if operator is not None else []
        return OperatorRoles(operator_id=operator_id, roles=roles)

    # --- messages ---------------------------------------------------------------------------------

    async def send_message(
        self, actor: Actor, user_ref: str, body: str, *, request_id: str | None
    ) -> MessageRequested:
        """Text a user through the normal outbound path (opt-out gate, cap, exactly once)."""
        require(actor, Role.ADMIN)
        refusal = refusal_reason(body, self._max_body_chars)
        if refusal is not None:
            raise InvalidRequest(f"message refused: {refusal}")
        if request_id is not None and not 0 < len(request_id) <= _MAX_REQUEST_ID_CHARS:
            raise InvalidRequest(f"request_id must be 1 to {_MAX_REQUEST_ID_CHARS} characters")
        user = await sms_user(self._sms, user_ref)
        if await self._sender.opted_out(user.phone):
            raise Conflict("the user opted out of SMS")
        key = f"{ADMIN_MESSAGE_PREFIX}:{user.id}:{request_id or uuid_compat.uuid7()}"
        event = new_event(
            SmsOutboundRequested(
                to_number=user.phone, body=body, kind="admin", user_id=user.id, compliance=False
            ),
            idempotency_key=key,
            occurred_at=self._clock.now(),
        )
        details = {"outbound_key": key, "chars": len(body)}
        await self._request(actor, "user.message", ("user", user.id), event, None, details)
        return MessageRequested(outbound_key=key, user_id=user.id)

    async def retry_outbound(self, actor: Actor, key: str) -> RetryRequested:
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
        return RetryRequested(key=key, mode=mode, outbound_key=event.idempotency_key)

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
        event: Envelope[Any],
        row_id: str | None,
        details: Document,
    ) -> None:
        """Queue `event` with its audit row, then hurry it out."""

        async def queue(uow: AdminWork) -> None:
            await uow.emit(event, row_id=row_id)

        await self._audited(actor, action, target, details, queue)
        await self._publish_now()

    # --- crisis alerts ----------------------------------------------------------------------------

    async def acknowledge_alert(
        self, actor: Actor, alert_id: str, *, note: str | None
    ) -> AcknowledgementRequested:
        """Ask the SMS worker, which owns the alert, to mark it acknowledged: an open alert once
        (409 when it is acknowledged already, or was asked for before and is on its way)."""
        require(actor, Role.ADMIN)
        alert = await self._sms.alert(alert_id)
        if alert is None:
            raise NotFound("no such alert")
        if alert.status != ALERT_OPEN:
            raise Conflict("the alert is already acknowledged")
        now = self._clock.now()
        target = ("alert", alert_id)
        event = new_event(
            CrisisAlertAcknowledged(
                alert_id=alert_id, acknowledged_by=actor.who, note=note or None, acknowledged_at=now
            ),
            idempotency_key=f"{ALERT_ACK_PREFIX}:{alert_id}",
            occurred_at=now,
        )

        async def command(uow: AdminWork) -> None:
            if await uow.audit.recorded(ALERT_ACKNOWLEDGE, target):
                raise Conflict("the alert's acknowledgement was requested already")
            await uow.emit(event)

        details = {"noted": bool(note)}
        await self._audited(actor, ALERT_ACKNOWLEDGE, target, details, command)
        await self._publish_now()
        return AcknowledgementRequested(
            alert_id=alert_id, acknowledged_by=actor.who, requested_at=now
        )

    # --- billing ----------------------------------------------------------------------------------

    async def request_reconcile(self, actor: Actor, *, since_seconds: int) -> BillingRequest:
        """Ask billing, which alone holds the Stripe key, to feed the Stripe events of the last
        `since_seconds` it never received; what it found is read back as the request."""
        require(actor, Role.ADMIN)
        request_id = str(uuid_compat.uuid7())
        now = self._clock.now()
        event = new_event(
            BillingReconcileRequested(
                request_id=request_id,
                since_seconds=since_seconds,
                requested_by=actor.who,
                requested_at=now,
            ),
            idempotency_key=f"{BILLING_REQUEST_PREFIX}:{request_id}",
            occurred_at=now,
        )
        details = {"since_seconds": since_seconds}
        return await self._billing_request(actor, BILLING_RECONCILE, "reconcile", event, details)

    async def request_checkout_link(
        self, actor: Actor, phone: str, *, plan: Literal["monthly", "annual"]
    ) -> BillingRequest:
        """Ask billing for a Stripe Checkout link for the caregiver with `phone` (one who never
        texted us too); the SMS worker's user id rides along when that phone has one."""
        require(actor, Role.ADMIN)
        named = reference(phone)
        if named.phone is None:
            raise InvalidRequest("a Checkout link is for a phone number (+E.164)")
        user = await self._sms.user_by_phone(named.phone)
        request_id = str(uuid_compat.uuid7())
        now = self._clock.now()
        event = new_event(
            CheckoutLinkRequested(
                request_id=request_id,
                phone=named.phone,
                plan=plan,
                user_id=user.id if user is not None else None,
                requested_by=actor.who,
                requested_at=now,
            ),
            idempotency_key=f"{BILLING_REQUEST_PREFIX}:{request_id}",
            occurred_at=now,
        )
        details = {"plan": plan, "user_id": user.id if user is not None else None}
        return await self._billing_request(
            actor, BILLING_CHECKOUT_LINK, "checkout_link", event, details
        )

    async def _billing_request(
        self,
        actor: Actor,
        action: str,
        kind: Literal["reconcile", "checkout_link"],
        event: Envelope[Any],
        details: Document,
    ) -> BillingRequest:
        """Queue a request for billing with its audit row; the request as it stands now."""
        payload = event.payload
        await self._request(
            actor, action, (BILLING_REQUEST, payload.request_id), event, None, details
        )
        return BillingRequest(
            request_id=payload.request_id,
            kind=kind,
            status="requested",
            requested_by=payload.requested_by,
            requested_at=payload.requested_at,
        )

    # --- parked events ----------------------------------------------------------------------------

    async def replay_parked(
        self, actor: Actor, queue: str, *, message_ids: Collection[str] | None, limit: int
    ) -> Replayed:
        """Move parked events back to their work queue (all of the first `limit`, or the ids)."""
        require(actor, Role.ADMIN)
        name = self._broker.settings.queue(consumer_queue(queue))
        async with self._broker.channel() as channel:
            moved = await replay_parked(channel, name, limit=limit, message_ids=message_ids)
        details = {"count": moved, "message_ids": sorted(message_ids) if message_ids else None}
        await self._audited(actor, "dlq.replay", ("queue", queue), details)
        return Replayed(queue=queue, replayed=moved)

    async def discard_parked(
        self,
        actor: Actor,
        queue: str,
        *,
        message_ids: Collection[str] | None,
        everything: bool,
        limit: int,
    ) -> Discarded:
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
        return Discarded(queue=queue, discarded=removed)


def _entry(
    actor: Actor, action: str, target: tuple[str, str], details: Document, now: datetime
) -> AuditEntry:
    return AuditEntry(
        id=str(uuid_compat.uuid7()),
        at=now,
        actor=actor,
        action=action,
        target=target,
        details=details,
    )
