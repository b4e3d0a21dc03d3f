"""The sender over the in-memory unit of work, a scriptable provider and a manual clock, wired as
`services/sms_sender/wiring.py` wires it (the claims and the send slot on the fake's
repositories, outcomes through its `run`), for handler and dispatcher tests in milliseconds."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from services.sms_sender.dispatcher import Dispatcher, DuePoller
from services.sms_sender.handlers import (
    DeliveryStatuses,
    OutboundRequests,
    RequestIntake,
    apply_opt_out,
)
from services.sms_sender.records import SendRecord
from services.sms_sender.unit_of_work import SenderWork
from shared.clock import ManualClock
from shared.config import SenderSettings
from shared.events import Envelope, Payload, new_event
from shared.events.catalog import (
    SmsOptOutChanged,
    SmsOutboundRequested,
    SmsSendUpdated,
    SmsStatusUpdated,
)
from tests.fakes.inbox import FakeInbox
from tests.fakes.sms_sender import FakeProvider, FakeSenderWork

P = TypeVar("P", bound=Payload)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PHONE = "+15551230001"
BODY = "Thanks for checking in. How are you sleeping this week?"


def request(
    key: str,
    *,
    body: str = BODY,
    to_number: str = PHONE,
    kind: str = "reply",
    compliance: bool = False,
) -> Envelope[SmsOutboundRequested]:
    payload = SmsOutboundRequested(
        to_number=to_number, body=body, kind=kind, user_id="user-1", compliance=compliance
    )
    return new_event(payload, idempotency_key=key, correlation_id=f"corr-{key}")


def anew(event: Envelope[SmsOutboundRequested]) -> Envelope[SmsOutboundRequested]:
    """The same request under another event id: a request the inbox no longer remembers (its
    row expired), or a second producer's copy."""
    return event.model_copy(update={"id": uuid.uuid4()})


class ParkedRequests:
    """The parking lot: what operators would find in `sms_sender.events.dlq`."""

    def __init__(self) -> None:
        self.parked: list[tuple[Envelope[SmsOutboundRequested], int, str]] = []

    async def park(self, send: SendRecord, attempts: int, error: str) -> None:
        self.parked.append((send.request(), attempts, error))


class World:
    def __init__(self, **settings: Any) -> None:
        self.uow = FakeSenderWork()
        self.provider = FakeProvider()
        self.clock = ManualClock(NOW)
        self.parking = ParkedRequests()
        self.settings = SenderSettings.model_validate({"lease_seconds": 60, **settings})
        self.dispatcher = Dispatcher(
            claims=self.uow.sends,
            slots=self.uow.recipients,
            transactions=self.uow,
            transport=self.provider,
            clock=self.clock,
            settings=self.settings,
            parking=self.parking,
            unit_random=lambda: 0.5,
        )
        self.poller = DuePoller(self.uow.sends, self.dispatcher, self.clock, self.settings)
        self.requests = OutboundRequests(
            self.clock, self.settings.max_body_chars, self.settings.lease_seconds
        )
        self.statuses = DeliveryStatuses(self.clock)
        self.inbox = FakeInbox(self.uow)
        # No inbox for requests: the key is their identity (`handlers.py`).
        self.intake = RequestIntake(
            self.requests, self.uow.sends, self.uow, self.dispatcher, self.provider.name
        )

    async def deliver_request(self, event: Envelope[SmsOutboundRequested]) -> None:
        """Deliver as the consumer does."""
        await self.intake(event)

    async def deliver(
        self, handler: Callable[[Envelope[P], SenderWork], Awaitable[None]], payload: P
    ) -> None:
        await self.inbox.idempotent(handler)(new_event(payload))

    async def callback(
        self, sid: str, status: str, key: str | None, error_code: int | None = None
    ) -> None:
        update = SmsStatusUpdated(
            message_sid=sid,
            status=status,
            error_code=error_code,
            outbound_key=key,
            to_number=PHONE,
            received_at=self.clock.now(),
        )
        await self.deliver(self.statuses.apply, update)

    async def opt_out(self, opted_out: bool, changed_at: datetime, phone: str = PHONE) -> None:
        change = SmsOptOutChanged(
            phone=phone, opted_out=opted_out, source="keyword", changed_at=changed_at
        )
        await self.deliver(apply_opt_out, change)

    async def send(self, key: str) -> SendRecord:
        send = await self.uow.sends.get(key)
        assert send is not None, f"no send {key}"
        return send

    def steps(self, key: str) -> list[tuple[int, str]]:
        """The (reopened, status) steps of `key` published, in order."""
        return [
            (step.reopened, step.status)
            for step in self.uow.emitted_payloads(SmsSendUpdated)
            if step.key == key
        ]

    async def due_again(self, key: str) -> None:
        """Move the clock to the send's retry time."""
        send = await self.send(key)
        assert send.next_attempt_at is not None
        self.clock.set(send.next_attempt_at)
