"""The SMS worker's handlers wired as `bootstrap` wires them, over the in-memory unit of work.

`FakeSmsWorker` delivers events through `FakeInbox` (once per event, all-or-nothing, stale
plans made again) and reads what the handlers wrote through the fake's repositories and the
events they emitted — the same view a handler has, in milliseconds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from services.sms_worker.alerts import acknowledge_alert
from services.sms_worker.domain.inbound import Policy
from services.sms_worker.domain.profile import Profile
from services.sms_worker.domain.responder import Responder, RulesResponder
from services.sms_worker.handlers import (
    BillingAccess,
    InboundConfig,
    InboundSms,
    OptOutChanges,
    request_sms,
)
from services.sms_worker.proactive_handlers import ChurnedUsers, ProactiveConfig, ProactiveMessages
from services.sms_worker.sends import SendSteps
from shared.clock import ManualClock
from shared.events import Envelope, Payload, new_event
from shared.events.catalog import (
    BillingAccessChanged,
    ProactiveMessageDue,
    SmsInboundReceived,
    SmsOptOutChanged,
    SmsOutboundRequested,
    SmsSendUpdated,
    UserChurned,
    UserProfileChanged,
)
from tests.fakes.inbox import FakeInbox
from tests.fakes.sms_worker import FakeSmsWork

# Monday 10:00 in New York: inside the proactive window.
AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
PHONE = "+14155550100"
POLICY = Policy(signup_url="https://signup.example/", billing_url="https://billing.example/")
_sids = itertools.count(1)
_P = TypeVar("_P", bound=Payload)


@dataclass
class FakeSmsWorker:
    responder: Responder = field(default_factory=lambda: RulesResponder(160))
    subscriptions_enabled: bool = False
    uow: FakeSmsWork = field(default_factory=FakeSmsWork)
    clock: ManualClock = field(default_factory=lambda: ManualClock(AT))

    def __post_init__(self) -> None:
        self.inbox = FakeInbox(self.uow)
        self.inbound_handler = InboundSms(
            self.uow,
            self.responder,
            self.clock,
            InboundConfig(
                policy=POLICY,
                default_timezone="America/New_York",
                subscriptions_enabled=self.subscriptions_enabled,
                recent_messages=20,
                summary_after=8,
            ),
        )
        proactive = ProactiveMessages(
            self.clock,
            ProactiveConfig(
                max_delay=timedelta(hours=24),
                subscriptions_enabled=self.subscriptions_enabled,
                recent_messages=20,
            ),
        )
        self.deliver_inbound = self.inbox.planned_with_own_record(self.inbound_handler)
        self.deliver_opt_out = self.inbox.idempotent(OptOutChanges(self.clock).handle)
        self.deliver_access = self.inbox.idempotent(BillingAccess(self.clock).handle)
        self.deliver_due = self.inbox.idempotent(proactive.handle)
        self.deliver_churn = self.inbox.idempotent(ChurnedUsers(self.clock).handle)
        # What the worker's own handlers do to ask for an SMS: emit and log it.
        self.request_sms = self.inbox.idempotent(request_sms)
        # Replay-safe on its own: no inbox, no transaction, as in `bootstrap.sends_consumer`.
        self.deliver_update = SendSteps(self.uow.messages).handle
        self.deliver_acknowledgement = self.inbox.idempotent(acknowledge_alert)

    @staticmethod
    def inbound(
        text: str, *, phone: str = PHONE, at: datetime = AT, opt_out_type: str | None = None
    ) -> Envelope[SmsInboundReceived]:
        """An `sms.inbound.received` as ingress publishes it."""
        sid = f"SM{next(_sids):032d}"
        return new_event(
            SmsInboundReceived(
                message_sid=sid,
                from_number=phone,
                to_number="+18005550199",
                body=text,
                opt_out_type=opt_out_type,
                received_at=at,
            ),
            idempotency_key=f"twilio:{sid}",
        )

    async def text(self, text: str, **kwargs: Any) -> list[SmsOutboundRequested]:
        """Deliver one SMS; the SMS requests it caused."""
        event = self.inbound(text, **kwargs)
        await self.deliver_inbound(event)
        return self.caused(event, SmsOutboundRequested)

    def caused(self, event: Envelope[Any], kind: type[_P]) -> list[_P]:
        """Payloads of `kind` the handler emitted for `event`."""
        return [
            e.payload
            for e in self.uow.emitted
            if e.causation_id == str(event.id) and isinstance(e.payload, kind)
        ]

    async def profile(self, phone: str = PHONE) -> Profile:
        user = await self.uow.users.by_phone(phone)
        assert user is not None, "no user for that phone"
        profile = await self.uow.profiles.get(user.id)
        assert profile is not None
        return profile

    async def onboard(self, phone: str = PHONE) -> Profile:
        """A caregiver who finished onboarding at `AT`: `active`, named Ana, in Boston."""
        for answer in ("hi", "Ana", "mom", "Rosa", "02139"):
            await self.text(answer, phone=phone)
        profile = await self.profile(phone)
        assert profile.journey_phase == "active"
        return profile

    @staticmethod
    def due(user_id: str, kind: Any, stage: int, due_at: datetime) -> Envelope[ProactiveMessageDue]:
        return new_event(
            ProactiveMessageDue(
                user_id=user_id, phone=PHONE, kind=kind, stage=stage, due_at=due_at
            ),
            idempotency_key=f"proactive:{user_id}:{kind}:{due_at:%Y%m%dT%H%M%S}:{stage}",
            occurred_at=due_at,
        )

    @staticmethod
    def churned(user_id: str, at: datetime) -> Envelope[UserChurned]:
        return new_event(
            UserChurned(user_id=user_id, phone=PHONE, churned_at=at),
            idempotency_key=f"churned:{user_id}:{at.isoformat()}",
        )

    @staticmethod
    def opt_out_change(
        opted_out: bool, at: datetime, phone: str = PHONE
    ) -> Envelope[SmsOptOutChanged]:
        return new_event(
            SmsOptOutChanged(phone=phone, opted_out=opted_out, source="carrier", changed_at=at)
        )

    @staticmethod
    def access_change(
        has_access: bool, at: datetime, status: str = "active"
    ) -> Envelope[BillingAccessChanged]:
        return new_event(
            BillingAccessChanged(phone=PHONE, has_access=has_access, status=status, changed_at=at)
        )

    @staticmethod
    def send_step(key: str, status: Any, at: datetime, **fields: Any) -> Envelope[SmsSendUpdated]:
        """A step as the sender publishes it; each call is a new event."""
        return new_event(SmsSendUpdated(key=key, status=status, updated_at=at, **fields))

    def snapshots(self, event: Envelope[Any]) -> list[UserProfileChanged]:
        return self.caused(event, UserProfileChanged)
