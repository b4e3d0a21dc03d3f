"""Remote mode: the admin API over HTTPS (`givecare --api-url … --token …`), for operators who
reach production only through its internal admin route or a port-forward (docs/operations.md).

`AdminClient` offers the same operations as direct mode and parses every answer into the same
model of `services/admin/schemas.py`, so a command prints the same JSON either way. A refusal is
raised as `ApiRefusal` with the API's own status, code and detail; the token goes in the
`Authorization` header only, never in a URL, a log line or an error.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Final, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter

from services.admin.records import Role
from services.admin.schemas import (
    AcknowledgementRequested,
    AcknowledgeRequest,
    AlertSummary,
    AuditRecord,
    BillingRequest,
    BootstrapRequest,
    Caller,
    CheckoutLinkRequest,
    Discarded,
    DiscardRequest,
    FailedSend,
    FailedSendView,
    MaskedFailedSend,
    MaskedUserDetail,
    MessageRequest,
    MessageRequested,
    Metrics,
    MigrationProgress,
    NewToken,
    OperatorRoles,
    ReconcileRequest,
    Replayed,
    ReplayRequest,
    RetryRequested,
    TokenListing,
    TokenRequest,
    TokenRevoked,
    UserDetail,
    UserView,
)
from shared.broker.parking import ParkedEvent
from shared.config import require_https_unless_loopback

T = TypeVar("T")

API_PREFIX: Final = "/admin"
_TIMEOUT_SECONDS: Final = 30.0


class ApiRefusal(Exception):
    """The API refused a request: its HTTP status, its machine-readable `error` and `detail`."""

    def __init__(self, status: int, error: str, detail: Any) -> None:
        super().__init__(f"{status} {error}")
        self.status = status
        self.error = error
        self.detail = detail


def api_base_url(url: str) -> str:
    """The admin API's address: https, or plain http only to this machine (a port-forward)."""
    checked = require_https_unless_loopback(url)
    if checked is None:
        raise ValueError("the admin API's URL is empty")
    return checked.rstrip("/").removesuffix(API_PREFIX) + API_PREFIX


def _segment(value: str) -> str:
    """A path segment, quoted whole: a `+` of a phone or the `:` of a send's key stay data."""
    return quote(value, safe="")


def _refusal(response: httpx.Response) -> ApiRefusal:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return ApiRefusal(response.status_code, body["error"], body.get("detail"))
    return ApiRefusal(response.status_code, "unexpected_answer", response.reason_phrase)


class AdminClient:
    """`AdminOperations` over the admin API; `async with` closes the connection pool."""

    def __init__(
        self, api_url: str, token: str, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=api_base_url(api_url),
            headers={"Authorization": f"Bearer {token}"},
            timeout=_TIMEOUT_SECONDS,
            transport=transport,
        )

    async def __aenter__(self) -> AdminClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._http.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        answer: TypeAdapter[T],
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
    ) -> T:
        response = await self._http.request(
            method,
            path,
            json=body.model_dump(mode="json", exclude_none=True) if body is not None else None,
            params={k: v for k, v in (params or {}).items() if v is not None},
        )
        if not response.is_success:
            raise _refusal(response)
        return answer.validate_json(response.content)

    async def whoami(self) -> Caller:
        return await self._call("GET", "/me", _CALLER)

    async def bootstrap(self, phone: str, *, token_name: str | None) -> NewToken:
        """The client's token must be the deployment's bootstrap token here."""
        request = BootstrapRequest(phone=phone, token_name=token_name)
        return await self._call("POST", "/bootstrap", _NEW_TOKEN, body=request)

    async def create_token(
        self,
        user: str,
        *,
        roles: Collection[Role] | None,
        ttl_days: float | None,
        name: str | None,
    ) -> NewToken:
        request = TokenRequest(
            user=user, roles=list(roles) if roles else None, ttl_days=ttl_days, name=name
        )
        return await self._call("POST", "/tokens", _NEW_TOKEN, body=request)

    async def tokens(self, *, operator_id: str | None, limit: int) -> list[TokenListing]:
        params = {"operator_id": operator_id, "limit": limit}
        return await self._call("GET", "/tokens", _TOKENS, params=params)

    async def revoke_token(self, token_id: str) -> TokenRevoked:
        return await self._call("POST", f"/tokens/{_segment(token_id)}/revoke", _REVOKED)

    async def grant_role(self, user: str, role: Role) -> OperatorRoles:
        path = f"/users/{_segment(user)}/roles/{role.value}"
        return await self._call("POST", path, _ROLES)

    async def revoke_role(self, user: str, role: Role) -> OperatorRoles:
        path = f"/users/{_segment(user)}/roles/{role.value}"
        return await self._call("DELETE", path, _ROLES)

    async def metrics(self) -> Metrics:
        return await self._call("GET", "/metrics", _METRICS)

    async def user(self, user: str) -> UserDetail | MaskedUserDetail:
        return await self._call("GET", f"/users/{_segment(user)}", _USER)

    async def send_message(
        self, user: str, body: str, *, request_id: str | None
    ) -> MessageRequested:
        request = MessageRequest(body=body, request_id=request_id)
        path = f"/users/{_segment(user)}/messages"
        return await self._call("POST", path, _MESSAGE, body=request)

    async def crisis_alerts(self, *, status: str | None, limit: int) -> list[AlertSummary]:
        params = {"status": status, "limit": limit}
        return await self._call("GET", "/crisis-alerts", _ALERTS, params=params)

    async def acknowledge_alert(
        self, alert_id: str, *, note: str | None
    ) -> AcknowledgementRequested:
        path = f"/crisis-alerts/{_segment(alert_id)}/acknowledge"
        return await self._call("POST", path, _ACKNOWLEDGED, body=AcknowledgeRequest(note=note))

    async def failed_outbound(self, *, limit: int) -> Sequence[FailedSend | MaskedFailedSend]:
        return await self._call("GET", "/outbound/failed", _FAILED, params={"limit": limit})

    async def retry_outbound(self, key: str) -> RetryRequested:
        return await self._call("POST", f"/outbound/{_segment(key)}/retry", _RETRY)

    async def migrations(self) -> list[MigrationProgress]:
        return await self._call("GET", "/migrations", _MIGRATIONS)

    async def parked(self, queue: str, *, limit: int) -> list[ParkedEvent]:
        path = f"/dlq/{_segment(queue)}"
        return await self._call("GET", path, _PARKED, params={"limit": limit})

    async def replay_parked(
        self, queue: str, *, message_ids: Collection[str] | None, limit: int
    ) -> Replayed:
        request = ReplayRequest(message_ids=list(message_ids) if message_ids else None, limit=limit)
        path = f"/dlq/{_segment(queue)}/replay"
        return await self._call("POST", path, _REPLAYED, body=request)

    async def discard_parked(
        self, queue: str, *, message_ids: Collection[str] | None, everything: bool, limit: int
    ) -> Discarded:
        request = DiscardRequest(
            message_ids=list(message_ids) if message_ids else None, all=everything, limit=limit
        )
        path = f"/dlq/{_segment(queue)}/discard"
        return await self._call("POST", path, _DISCARDED, body=request)

    async def audit(self, *, target: str | None, limit: int) -> list[AuditRecord]:
        params = {"target": target, "limit": limit}
        return await self._call("GET", "/audit", _AUDIT, params=params)

    async def request_reconcile(self, *, since_seconds: int) -> BillingRequest:
        request = ReconcileRequest(since_seconds=since_seconds)
        return await self._call("POST", "/billing/reconcile", _BILLING, body=request)

    async def request_checkout_link(
        self, phone: str, *, plan: Literal["monthly", "annual"]
    ) -> BillingRequest:
        request = CheckoutLinkRequest(phone=phone, plan=plan)
        return await self._call("POST", "/billing/checkout-links", _BILLING, body=request)

    async def billing_request(self, request_id: str) -> BillingRequest:
        return await self._call("GET", f"/billing/requests/{_segment(request_id)}", _BILLING)


_CALLER = TypeAdapter(Caller)
_NEW_TOKEN = TypeAdapter(NewToken)
_TOKENS = TypeAdapter(list[TokenListing])
_REVOKED = TypeAdapter(TokenRevoked)
_ROLES = TypeAdapter(OperatorRoles)
_METRICS = TypeAdapter(Metrics)
_USER: TypeAdapter[UserDetail | MaskedUserDetail] = TypeAdapter(UserView)
_MESSAGE = TypeAdapter(MessageRequested)
_ALERTS = TypeAdapter(list[AlertSummary])
_ACKNOWLEDGED = TypeAdapter(AcknowledgementRequested)
_FAILED: TypeAdapter[list[FailedSend | MaskedFailedSend]] = TypeAdapter(list[FailedSendView])
_RETRY = TypeAdapter(RetryRequested)
_MIGRATIONS = TypeAdapter(list[MigrationProgress])
_PARKED = TypeAdapter(list[ParkedEvent])
_REPLAYED = TypeAdapter(Replayed)
_DISCARDED = TypeAdapter(Discarded)
_AUDIT = TypeAdapter(list[AuditRecord])
_BILLING = TypeAdapter(BillingRequest)
