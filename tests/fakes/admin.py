"""The admin's repositories in memory, with the rules the Mongo ones apply in their filters:
one operator per phone, a role granted or revoked only when that changes something, a token
revoked once, the audit log append-only, the bootstrap spent once, failed logins kept newest
first. `FakeAdminWork` is also what the admin's checks read outside a transaction, and
`FakeSenderViews` stands for what the admin reads of the sender.

The operators contract (`tests/integration/admin/test_operators_contract.py`) holds the fake
and the server to the same assertions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from services.admin.errors import BootstrapClosed
from services.admin.records import Actor, ApiToken, AuditEntry, Operator, Role
from services.sms_sender.views import Send
from shared.events import Envelope
from tests.fakes.unit_of_work import FakeUnitOfWork


class FakeOperators:
    def __init__(self) -> None:
        self.rows: dict[str, Operator] = {}

    async def get(self, operator_id: str) -> Operator | None:
        return self.rows.get(operator_id)

    async def by_phone(self, phone: str) -> Operator | None:
        return next((op for op in self.rows.values() if op.phone == phone), None)

    async def add(self, operator: Operator) -> Operator:
        found = await self.by_phone(operator.phone)
        if found is not None:
            return found
        self.rows[operator.id] = operator
        return operator

    async def grant(self, operator_id: str, role: Role, now: datetime) -> bool:
        return self._change(operator_id, role, now, granted=True)

    async def revoke(self, operator_id: str, role: Role, now: datetime) -> bool:
        return self._change(operator_id, role, now, granted=False)

    def _change(self, operator_id: str, role: Role, now: datetime, *, granted: bool) -> bool:
        current = self.rows.get(operator_id)
        if current is None or (role in current.roles) == granted:
            return False
        roles = current.roles | {role} if granted else current.roles - {role}
        self.rows[operator_id] = dataclasses.replace(current, roles=roles, updated_at=now)
        return True

    async def holders(self, role: Role, limit: int) -> int:
        return min(limit, sum(1 for op in self.rows.values() if role in op.roles))


class FakeApiTokens:
    def __init__(self) -> None:
        self.rows: dict[str, ApiToken] = {}

    async def add(self, token: ApiToken) -> None:
        if token.id in self.rows:
            raise KeyError(f"token {token.id} exists")  # the unique `_id`
        self.rows[token.id] = token

    async def get(self, token_id: str) -> ApiToken | None:
        return self.rows.get(token_id)

    async def touch(self, token_id: str, now: datetime, interval: timedelta) -> None:
        token = self.rows.get(token_id)
        if token is not None and (
            token.last_used_at is None or token.last_used_at <= now - interval
        ):
            self.rows[token_id] = dataclasses.replace(token, last_used_at=now)

    async def revoke(self, token_id: str, by: Actor, now: datetime) -> bool:
        token = self.rows.get(token_id)
        if token is None or token.revoked_at is not None:
            return False
        self.rows[token_id] = dataclasses.replace(token, revoked_at=now, revoked_by=by.id)
        return True

    async def listing(self, operator_id: str | None, limit: int) -> list[ApiToken]:
        tokens = [t for t in self.rows.values() if operator_id in (None, t.operator_id)]
        return sorted(tokens, key=lambda t: t.created_at, reverse=True)[:limit]


class FakeAuditLog:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    async def append(self, entry: AuditEntry) -> None:
        self.entries.append(entry)

    async def recent(self, limit: int, target_id: str | None = None) -> list[AuditEntry]:
        about = [e for e in self.entries if target_id in (None, e.target[1])]
        return sorted(about, key=lambda e: e.at, reverse=True)[:limit]

    async def recorded(self, action: str, target: tuple[str, str]) -> bool:
        return any(e.action == action and e.target == target for e in self.entries)

    def actions(self) -> list[str]:
        return [entry.action for entry in self.entries]


class FakeAdminState:
    def __init__(self) -> None:
        self.spent_by: str | None = None

    async def bootstrap_spent(self) -> bool:
        return self.spent_by is not None

    async def spend_bootstrap(self, operator_id: str, now: datetime) -> None:
        if self.spent_by is not None:
            raise BootstrapClosed("the bootstrap token has been used")
        self.spent_by = operator_id


class FakeFailedAttempts:
    def __init__(self, *, limit: int, window: timedelta) -> None:
        self.times: dict[str, list[datetime]] = {}
        self._limit = limit
        self._window = window

    async def blocked_for(self, client: str, now: datetime) -> timedelta | None:
        times = self.times.get(client, [])
        if len(times) < self._limit:
            return None
        free_at = times[self._limit - 1] + self._window
        return free_at - now if free_at > now else None

    async def record(self, client: str, now: datetime) -> None:
        self.times[client] = [now, *self.times.get(client, [])][: self._limit]


class FakeAdminWork(FakeUnitOfWork):
    """`AdminWork` in memory; `run` is the transaction (`AdminTransactions`)."""

    def __init__(self) -> None:
        super().__init__()
        self.operators = FakeOperators()
        self.tokens = FakeApiTokens()
        self.audit = FakeAuditLog()
        self.state = FakeAdminState()
        # Outbox row ids, as `Outbox.add` keys them: the event id unless given one.
        self.row_ids: list[str] = []

    async def emit(self, event: Envelope[Any], *, row_id: str | None = None) -> None:
        key = row_id or str(event.id)
        if key not in self.row_ids:
            self.row_ids.append(key)
            self.emitted.append(event)


class FakeSenderViews:
    """What the admin reads of the sender: opted-out phones and sends by key."""

    def __init__(self, opted_out: Iterable[str] = (), sends: Iterable[Send] = ()) -> None:
        self.opted_out_phones = set(opted_out)
        self.sends = {send.key: send for send in sends}

    async def opted_out(self, phone: str) -> bool:
        return phone in self.opted_out_phones

    async def send(self, key: str) -> Send | None:
        return self.sends.get(key)

    async def sends_keyed_from(self, prefix: str) -> list[Send]:
        return [send for key, send in sorted(self.sends.items()) if key.startswith(prefix)]
