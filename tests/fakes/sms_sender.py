"""The sender's unit of work in memory: the repositories of `services/sms_sender/unit_of_work.py`
over dicts of records, and a scriptable provider, for tests that run in milliseconds.

They keep the Mongo repositories' rules — one send per key, the claim's compare-and-set on the
claim state (a concurrent claim between the read and the write wins, as on the server), writes
keyed by the claim token (an outcome with the events it publishes, as one write),
forward-only statuses with a status set aside on a claimed send, the
newer-than rule of opt-outs, the cap windows over the newest send times — and
`tests/integration/sms_sender/test_*_contract.py` runs the same assertions against both.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from domain import send_status
from services.sms_sender.records import (
    NEVER_CHANGED,
    CapPolicy,
    Claim,
    Gate,
    OptOut,
    Recipient,
    SendOutcome,
    SendRecord,
    with_outcome,
)
from services.sms_sender.transport import OutgoingSms, ProviderMessage, SendFailure
from shared.events import Envelope
from tests.fakes.unit_of_work import FakeUnitOfWork

_DUE_STATUSES = (send_status.PENDING, send_status.SENDING)


def _claim_state(send: SendRecord) -> tuple[object, ...]:
    """What a claim compares before taking a send; every claim changes status and attempts."""
    return (send.status, send.attempts, send.claim, send.next_attempt_at, send.lease_until)


def _due_at(send: SendRecord) -> datetime | None:
    if send.status == send_status.PENDING:
        return send.next_attempt_at
    if send.status == send_status.SENDING:
        return send.lease_until
    return None


class FakeSends:
    def __init__(self, published: list[Envelope[Any]] | None = None) -> None:
        """`published`: where an outcome's events go the moment it is written (the Mongo
        repository keeps them in the row and publishes them right after the same write)."""
        self.rows: dict[str, SendRecord] = {}
        self.published: list[Envelope[Any]] = published if published is not None else []

    async def get(self, key: str) -> SendRecord | None:
        return self.rows.get(key)

    async def record(self, send: SendRecord) -> bool:
        if send.key in self.rows:
            return False
        self.rows[send.key] = send
        return True

    async def reopen_exhausted(self, key: str, now: datetime) -> SendRecord | None:
        send = self.rows.get(key)
        if send is None or not send.retries_exhausted:
            return None
        self.rows[key] = replace(
            send,
            status=send_status.PENDING,
            attempts=0,
            next_attempt_at=now,
            updated_at=now,
            reason=None,
            reopened=send.reopened + 1,
        )
        return self.rows[key]

    async def due_keys(self, now: datetime, limit: int) -> list[str]:
        due = [
            send
            for status in _DUE_STATUSES
            for send in self.rows.values()
            if send.status == status and (at := _due_at(send)) is not None and at <= now
        ]
        return [send.key for send in due[:limit]]

    async def claim(
        self, key: str, token: str, now: datetime, lease_until: datetime
    ) -> Claim | None:
        before = self.rows.get(key)
        due_at = _due_at(before) if before is not None else None
        if before is None or due_at is None or due_at > now:
            return None
        # The read and the conditional write are two calls on the server too: another
        # sender's claim may come in between, and then this one must not match.
        await asyncio.sleep(0)
        current = self.rows[key]
        if _claim_state(current) != _claim_state(before):
            return None
        self.rows[key] = replace(
            current,
            status=send_status.SENDING,
            claim=token,
            lease_until=lease_until,
            attempt_started_at=now,
            updated_at=now,
            attempts=current.attempts + 1,
        )
        return Claim(token, before, now, before.cap_slot_at)

    async def sids_of_other_sends(self, sids: Iterable[str], key: str) -> set[str]:
        wanted = set(sids)
        return {
            send.provider_sid
            for send in self.rows.values()
            if send.key != key and send.provider_sid in wanted and send.provider_sid is not None
        }

    async def release_for_retry(
        self, claim: Claim, outcome: SendOutcome, next_attempt_at: datetime
    ) -> bool:
        send = self.rows.get(claim.key)
        if send is None or send.claim != claim.token:
            return False
        released = with_outcome(send, claim, outcome)
        self.rows[claim.key] = replace(
            released, status=send_status.PENDING, next_attempt_at=next_attempt_at
        )
        return True

    async def finish(
        self,
        claim: Claim,
        outcome: SendOutcome,
        events: Callable[[SendRecord], Sequence[Envelope[Any]]],
    ) -> SendRecord | None:
        send = self.rows.get(claim.key)
        if send is None or send.claim != claim.token:
            return None
        after = replace(with_outcome(send, claim, outcome), next_attempt_at=None)
        self.rows[claim.key] = after
        for event in events(after):
            # Consumers drop a repeated id; so does the unit of work's `emit`.
            if all(seen.id != event.id for seen in self.published):
                self.published.append(event)
        return after

    async def find_for_status(self, key: str | None, provider_sid: str) -> SendRecord | None:
        if key is not None and key in self.rows:
            return self.rows[key]
        return next((s for s in self.rows.values() if s.provider_sid == provider_sid), None)

    async def apply_reported_status(
        self, key: str, provider_sid: str, status: str, error_code: int | None, now: datetime
    ) -> bool:
        send = self.rows.get(key)
        if send is None or send.provider_sid not in (None, provider_sid):
            return False
        reported = replace(
            send,
            provider_sid=provider_sid,
            updated_at=now,
            error_code=error_code if error_code is not None else send.error_code,
        )
        moves_forward = send_status.rank(send.status) >= send_status.rank(
            send_status.SENT
        ) and send_status.advances(send.status, status)
        if moves_forward or send.retries_exhausted:
            # A send given up after its retries takes the provider's word that it went out.
            self.rows[key] = replace(reported, status=status, reason=None)
            return True
        set_aside = send.reported_status is None or send_status.advances(
            send.reported_status, status
        )
        if send.status in _DUE_STATUSES and set_aside:
            self.rows[key] = replace(reported, reported_status=status)
        return False

    async def with_status(self, statuses: Sequence[str], *, limit: int) -> list[SendRecord]:
        matching = [replace(s, history=()) for s in self.rows.values() if s.status in statuses]
        matching.sort(key=lambda s: s.updated_at or NEVER_CHANGED, reverse=True)
        return matching[:limit]

    async def keyed_from(self, prefix: str) -> list[SendRecord]:
        return [replace(s, history=()) for s in self.rows.values() if s.key.startswith(prefix)]

    async def count_by_status(self) -> dict[str, int]:
        return dict(Counter(send.status for send in self.rows.values()))


def _new_recipient(phone: str) -> Recipient:
    return Recipient(phone, opted_out=False, changed_at=NEVER_CHANGED, source=None, send_times=())


class FakeRecipients:
    def __init__(self) -> None:
        self.rows: dict[str, Recipient] = {}

    async def get(self, phone: str) -> Recipient | None:
        return self.rows.get(phone)

    async def apply_opt_out(self, change: OptOut) -> bool:
        recipient = self.rows.setdefault(change.phone, _new_recipient(change.phone))
        if recipient.changed_at >= change.changed_at:
            return False
        self.rows[change.phone] = replace(
            recipient,
            opted_out=change.opted_out,
            changed_at=change.changed_at,
            source=change.source,
        )
        return True

    async def opted_out(self, phone: str) -> bool:
        recipient = self.rows.get(phone)
        return recipient is not None and recipient.opted_out

    async def take_send_slot(
        self,
        phone: str,
        now: datetime,
        caps: Sequence[CapPolicy],
        *,
        compliance: bool,
        capped: bool,
    ) -> Gate:
        recipient = self.rows.setdefault(phone, _new_recipient(phone))
        if not compliance and recipient.opted_out:
            return Gate.OPTED_OUT
        times = recipient.send_times
        if capped and any(
            len(times) >= cap.limit and times[cap.limit - 1] >= now - cap.window for cap in caps
        ):
            return Gate.SEND_CAP
        kept = max((cap.limit for cap in caps), default=1)
        self.rows[phone] = replace(recipient, send_times=(now, *times)[:kept])
        return Gate.OPEN


class FakeSenderWork(FakeUnitOfWork):
    """Satisfies `SenderWork` (the handlers' view), `SenderTransactions` (`run`), and, through
    its repositories, the dispatcher's `Claims` and `SendSlots`."""

    def __init__(self) -> None:
        super().__init__()
        # An outcome's events join what the unit's transactions emitted, so a test reads one
        # list of what the sender published.
        self.sends = FakeSends(self.emitted)
        self.recipients = FakeRecipients()


@dataclass
class FakeProvider:
    """A provider to script: each `send` takes the next scripted failure (or, when there is
    none, creates a message); `find_sent` lists what was created, newest first. A failure
    scripted with `creates=True` took the message although the caller saw an error (a timeout
    after Twilio accepted)."""

    name: str = "twilio"
    created: list[tuple[OutgoingSms, ProviderMessage]] = field(default_factory=list)
    calls: list[OutgoingSms] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)
    lookup_failure: SendFailure | None = None
    # Runs when a send succeeded, before its answer returns (a status callback that is faster).
    on_create: Callable[[OutgoingSms, ProviderMessage], Awaitable[None]] | None = None
    _script: list[tuple[SendFailure, bool]] = field(default_factory=list)
    _sids: itertools.count[int] = field(default_factory=itertools.count)

    def fail_next(self, *failures: SendFailure, creates: bool = False) -> None:
        self._script.extend((failure, creates) for failure in failures)

    def create(self, sms: OutgoingSms, status: str = "queued") -> ProviderMessage:
        """A message the provider holds (also one it took from elsewhere, as a test says)."""
        message = ProviderMessage(f"SM{next(self._sids):032d}", status, sms.to_number, sms.body)
        self.created.append((sms, message))
        return message

    async def send(self, sms: OutgoingSms) -> ProviderMessage:
        self.calls.append(sms)
        if self._script:
            failure, creates = self._script.pop(0)
            if creates:
                self.create(sms)
            raise failure
        message = self.create(sms)
        if self.on_create is not None:
            await self.on_create(sms, message)
        return message

    async def find_sent(self, to_number: str, since: datetime, limit: int) -> list[ProviderMessage]:
        self.lookups.append(to_number)
        if self.lookup_failure is not None:
            raise self.lookup_failure
        sent = [message for sms, message in self.created if sms.to_number == to_number]
        return list(reversed(sent))[:limit]

    async def close(self) -> None:
        return None
