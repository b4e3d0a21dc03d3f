"""What `givecare`'s admin commands ask of the admin, in either mode: `LocalAdmin` calls the
admin's code against the database and broker (direct mode, `services/cli/local.py`);
`AdminClient` calls the admin API over HTTPS (remote mode, `services/cli/remote.py`). Both answer
with the models of `services/admin/schemas.py`, so a command prints the same thing either way.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

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
from shared.broker.parking import ParkedEvent


class AdminOperations(Protocol):
    async def whoami(self) -> Caller: ...

    async def bootstrap(self, phone: str, *, token_name: str | None) -> NewToken: ...

    async def create_token(
        self,
        user: str,
        *,
        roles: Collection[Role] | None,
        ttl_days: float | None,
        name: str | None,
    ) -> NewToken: ...

    async def tokens(self, *, operator_id: str | None, limit: int) -> list[TokenListing]: ...

    async def revoke_token(self, token_id: str) -> TokenRevoked: ...

    async def grant_role(self, user: str, role: Role) -> OperatorRoles: ...

    async def revoke_role(self, user: str, role: Role) -> OperatorRoles: ...

    async def metrics(self) -> Metrics: ...

    async def user(self, user: str) -> UserDetail | MaskedUserDetail: ...

    async def send_message(
        self, user: str, body: str, *, request_id: str | None
    ) -> MessageRequested: ...

    async def crisis_alerts(self, *, status: str | None, limit: int) -> list[AlertSummary]: ...

    async def acknowledge_alert(
        self, alert_id: str, *, note: str | None
    ) -> AcknowledgementRequested: ...

    async def failed_outbound(self, *, limit: int) -> Sequence[FailedSend | MaskedFailedSend]: ...

    async def retry_outbound(self, key: str) -> RetryRequested: ...

    async def migrations(self) -> list[MigrationProgress]: ...

    async def parked(self, queue: str, *, limit: int) -> list[ParkedEvent]: ...

    async def replay_parked(
        self, queue: str, *, message_ids: Collection[str] | None, limit: int
    ) -> Replayed: ...

    async def discard_parked(
        self, queue: str, *, message_ids: Collection[str] | None, everything: bool, limit: int
    ) -> Discarded: ...

    async def audit(self, *, target: str | None, limit: int) -> list[AuditRecord]: ...
