"""Direct mode: the admin's own code (`AdminReads`/`AdminActions`) against the database and broker
this machine reaches, acting as the local operator (`cli:<os user>@<host>` in the audit log, an
admin: whoever can reach the database already has that power). For local use and for a shell in
the cluster; from an operator's machine, use remote mode (`services/cli/remote.py`)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from services.admin.auth import Actor
from services.admin.errors import InvalidRequest
from services.admin.records import Role
from services.admin.schemas import (
    AcknowledgementRequested,
    AlertSummary,
    AuditRecord,
    Caller,
    Discarded,
    FailedSend,
    MaskedFailedSend,
    MaskedUserDetail,
    MessageRequested,
    Metrics,
    MigrationProgress,
    NewToken,
    OperatorRoles,
    Replayed,
    RetryRequested,
    TokenListing,
    TokenRevoked,
    UserDetail,
)
from services.admin.wiring import AdminServices
from shared.broker.parking import ParkedEvent


class LocalAdmin:
    """`AdminOperations` as the local operator, over the admin's services for one command."""

    def __init__(self, services: AdminServices, actor: Actor) -> None:
        self._services = services
        self._actor = actor
        self._reads = services.reads
        self._actions = services.actions

    async def whoami(self) -> Caller:
        return Caller.of(self._actor)

    async def bootstrap(self, phone: str, *, token_name: str | None) -> NewToken:
        """With this environment's ADMIN_BOOTSTRAP_TOKEN, presented like any caller's (so the
        API's check and its throttle apply)."""
        configured = self._services.config.admin.bootstrap_token
        if configured is None:
            raise InvalidRequest("ADMIN_BOOTSTRAP_TOKEN is not set in this environment")
        await self._services.auth.check_bootstrap(configured.get_secret_value(), self._actor.id)
        return await self._actions.bootstrap_first_admin(phone, token_name=token_name)

    async def create_token(
        self,
        user: str,
        *,
        roles: Collection[Role] | None,
        ttl_days: float | None,
        name: str | None,
    ) -> NewToken:
        return await self._actions.create_token(
            self._actor, user, roles=roles, ttl_days=ttl_days, name=name
        )

    async def tokens(self, *, operator_id: str | None, limit: int) -> list[TokenListing]:
        page = self._services.page(limit)
        return await self._reads.tokens(self._actor, operator_id=operator_id, limit=page)

    async def revoke_token(self, token_id: str) -> TokenRevoked:
        return await self._actions.revoke_token(self._actor, token_id)

    async def grant_role(self, user: str, role: Role) -> OperatorRoles:
        return await self._actions.grant_role(self._actor, user, role)

    async def revoke_role(self, user: str, role: Role) -> OperatorRoles:
        return await self._actions.revoke_role(self._actor, user, role)

    async def metrics(self) -> Metrics:
        return await self._reads.metrics(self._actor)

    async def user(self, user: str) -> UserDetail | MaskedUserDetail:
        return await self._reads.user(self._actor, user)

    async def send_message(
        self, user: str, body: str, *, request_id: str | None
    ) -> MessageRequested:
        return await self._actions.send_message(self._actor, user, body, request_id=request_id)

    async def crisis_alerts(self, *, status: str | None, limit: int) -> list[AlertSummary]:
        page = self._services.page(limit)
        return await self._reads.crisis_alerts(self._actor, status=status, limit=page)

    async def acknowledge_alert(
        self, alert_id: str, *, note: str | None
    ) -> AcknowledgementRequested:
        return await self._actions.acknowledge_alert(self._actor, alert_id, note=note)

    async def failed_outbound(self, *, limit: int) -> Sequence[FailedSend | MaskedFailedSend]:
        return await self._reads.failed_outbound(self._actor, limit=self._services.page(limit))

    async def retry_outbound(self, key: str) -> RetryRequested:
        return await self._actions.retry_outbound(self._actor, key)

    async def migrations(self) -> list[MigrationProgress]:
        return await self._reads.migrations(self._actor)

    async def parked(self, queue: str, *, limit: int) -> list[ParkedEvent]:
        return await self._reads.parked(self._actor, queue, limit=self._services.page(limit))

    async def replay_parked(
        self, queue: str, *, message_ids: Collection[str] | None, limit: int
    ) -> Replayed:
        return await self._actions.replay_parked(
            self._actor, queue, message_ids=message_ids, limit=self._services.page(limit)
        )

    async def discard_parked(
        self, queue: str, *, message_ids: Collection[str] | None, everything: bool, limit: int
    ) -> Discarded:
        return await self._actions.discard_parked(
            self._actor,
            queue,
            message_ids=message_ids,
            everything=everything,
            limit=self._services.page(limit),
        )

    async def audit(self, *, target: str | None, limit: int) -> list[AuditRecord]:
        page = self._services.page(limit)
        return await self._reads.audit(self._actor, target=target, limit=page)
