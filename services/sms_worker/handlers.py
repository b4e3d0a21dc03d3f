"""The inbound consumer's handlers: an SMS in, state and reply requests out, exactly once.

An inbound SMS is handled in two steps. *Plan* reads what the rules need, decides (pure
`inbound.decide`) and lets the responder write the reply — outside any transaction, because an
LLM call is slow and must not run again on a write conflict. *Apply* writes the plan inside
the inbox's transaction; it is guarded by the profile's version, and a plan made on a profile
that changed in the meantime is stale and made again (`Inbox.planned_with_own_record`: the
message's own record, keyed by its provider sid, stands in for the inbox row). Replies leave through
the outbox with keys derived from the event.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import structlog
from uuid_utils import compat as uuid_compat

from services.sms_worker.domain.inbound import (
    AssessmentCompleted,
    CrisisAlert,
    Decision,
    Facts,
    InboundMessage,
    Outgoing,
    Policy,
    decide,
    reply_key,
)
from services.sms_worker.domain.profile import Profile
from services.sms_worker.domain.responder import Responder, ResponderContext, ResponderReply
from services.sms_worker.domain.summary import ConversationWindow, SummaryUpdate, entries_to_fold
from services.sms_worker.records import (
    Alert,
    AssessmentResult,
    Attachment,
    ConversationEntry,
    InboundSmsRecord,
    OutboundRequest,
    ToolCall,
    User,
    inbound_message_id,
    outbound_message_id,
)
from services.sms_worker.records import (
    BillingAccess as AccessRecord,
)
from services.sms_worker.safety.screen import SafetyScreen, default_screen
from services.sms_worker.settings import SmsWorkerSettings
from services.sms_worker.unit_of_work import SmsRepositories, SmsWork
from shared.broker import AlreadyProcessed, PermanentError
from shared.clock import Clock
from shared.config import LinkSettings
from shared.events import Envelope, new_event
from shared.events.catalog import (
    BillingAccessChanged,
    CrisisDetected,
    SmsInboundReceived,
    SmsOptOutChanged,
    SmsOutboundRequested,
    UserProfileChanged,
)
from shared.phones import InvalidPhoneNumber, normalise_phone
from shared.unit_of_work import StalePlan

log = structlog.get_logger(__name__)

# The status of the record kept for a message whose sender is unusable.
REJECTED: Final = "rejected"


class ProfileChanged(StalePlan):
    """The profile changed between plan and apply (another message of the same user won)."""


@dataclass(frozen=True)
class InboundConfig:
    policy: Policy
    default_timezone: str
    subscriptions_enabled: bool
    recent_messages: int
    # Entries gathered since the last summary that bring it up to date (`summary.py`).
    summary_after: int

    @classmethod
    def of(
        cls, settings: SmsWorkerSettings, links: LinkSettings, *, subscriptions_enabled: bool
    ) -> InboundConfig:
        return cls(
            policy=settings.policy(links),
            default_timezone=settings.default_timezone,
            subscriptions_enabled=subscriptions_enabled,
            recent_messages=settings.recent_messages,
            summary_after=settings.summary_after_messages,
        )


@dataclass(frozen=True)
class InboundPlan:
    """Everything `apply` writes, decided before the transaction opens."""

    event_id: str
    phone: str
    user_id: str
    new_profile: bool
    before: Profile
    decision: Decision
    reply: ResponderReply | None
    message_id: str
    at: datetime
    summary: SummaryUpdate | None = None

    @property
    def outgoing(self) -> tuple[Outgoing, ...]:
        if self.reply is None:
            return self.decision.outgoing
        return (
            *self.decision.outgoing,
            Outgoing(reply_key(self.event_id), "reply", self.reply.text),
        )


async def _nothing() -> None:
    return None


def aware(at: datetime) -> datetime:
    """`at` as an aware datetime; a naive one from a producer is taken as UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


class InboundSms:
    """`sms.inbound.received`: the whole inbound rule set for one message."""

    def __init__(
        self,
        reads: SmsRepositories,
        responder: Responder,
        clock: Clock,
        config: InboundConfig,
        screen: SafetyScreen | None = None,
    ) -> None:
        # The repositories without a transaction: what the plan reads before one opens.
        self._reads = reads
        self._responder = responder
        self._clock = clock
        self._config = config
        # Loaded once per process (about a second); every message then costs milliseconds.
        self._screen = screen or default_screen()

    async def plan(self, event: Envelope[SmsInboundReceived]) -> InboundPlan:
        """Read, decide, and have the reply written."""
        payload = event.payload
        at = aware(payload.received_at)
        message_id = inbound_message_id(payload.message_sid)
        try:
            phone = normalise_phone(payload.from_number)
        except InvalidPhoneNumber as error:
            # Kept for support on its own (the event is parked, so no transaction follows).
            now = self._clock.now()
            await self._reads.messages.record_inbound(
                InboundSmsRecord(
                    id=message_id,
                    user_id=None,
                    body=payload.body,
                    provider_sid=payload.message_sid,
                    status=REJECTED,
                    created_at=now,
                    updated_at=now,
                    error=str(error),
                )
            )
            raise PermanentError(f"unusable sender: {error}") from None
        # The user, their profile and their rolling-day count: one read.
        caregiver = await self._reads.caregivers.by_phone(
            phone, since=at - timedelta(days=1), until=at, excluding=message_id
        )
        user_id = caregiver.user.id if caregiver else str(uuid_compat.uuid7())
        stored = caregiver.profile if caregiver else None
        before = (
            stored
            if stored is not None
            else Profile(user_id=user_id, timezone=self._config.default_timezone)
        )
        earlier = caregiver.counted_inbound if caregiver and stored is not None else 0
        access = None
        if self._config.subscriptions_enabled:
            access = AccessRecord.access(await self._reads.billing_access.get(phone))
        # Both safety layers read every message first, whatever state the user is in.
        safety = self._screen.read(payload.body)
        message = InboundMessage(
            str(event.id), payload.body, at, safety=safety, twilio_opt_out=payload.opt_out_type
        )
        decision = decide(before, message, Facts(earlier + 1, access), self._config.policy)
        reply, summary = await self._respond(decision, message, user_id)
        return InboundPlan(
            event_id=str(event.id),
            phone=phone,
            user_id=user_id,
            new_profile=stored is None,
            before=before,
            decision=decision,
            reply=reply,
            message_id=message_id,
            at=at,
            summary=summary,
        )

    async def _respond(
        self, decision: Decision, message: InboundMessage, user_id: str
    ) -> tuple[ResponderReply | None, SummaryUpdate | None]:
        """The responder's reply when the decision asks for one and, alongside it, a new
        historical summary when one is due. Never a summary with a crisis: nothing may hold
        that reply up."""
        window = ConversationWindow(())
        if self._responder.uses_history:
            window = await self._reads.conversations.window(user_id, self._config.recent_messages)
        fold = None if decision.crises else entries_to_fold(window, self._config.summary_after)
        reply, summary = await asyncio.gather(
            self._reply(decision, message, window) if decision.respond else _nothing(),
            self._responder.summarise(window.summary, fold.entries) if fold else _nothing(),
        )
        if fold is None or summary is None:
            return reply, None
        version = window.summary_version + 1
        return reply, SummaryUpdate(summary.text, version, fold.through, summary.tokens)

    async def _reply(
        self, decision: Decision, message: InboundMessage, window: ConversationWindow
    ) -> ResponderReply:
        profile = decision.profile
        context = ResponderContext(
            message=message.text,
            seed=message.event_id,
            first_name=profile.first_name,
            relationship=profile.relationship,
            care_recipient_name=profile.care_recipient_name,
            burnout_band=profile.burnout_band,
            pressure_zones=profile.pressure_zones,
            crisis_severity=decision.crisis_severity,
            history=window.entries,
            summary=window.summary,
        )
        return await self._responder.reply(context)

    async def apply(
        self, event: Envelope[SmsInboundReceived], plan: InboundPlan, uow: SmsWork
    ) -> None:
        """Write the plan, unless the profile moved on since it was made (`ProfileChanged`)."""
        now = self._clock.now()
        decision, payload, event_id = plan.decision, event.payload, str(event.id)
        user_id = plan.user_id
        if plan.new_profile:
            # Users are never deleted, so only a user the plan did not find needs creating.
            user = await uow.users.add(User(id=plan.user_id, phone=plan.phone, created_at=now))
            if user.id != plan.user_id:
                raise ProfileChanged("the user was created by another message")
        requests = [
            new_event(
                SmsOutboundRequested(
                    to_number=plan.phone,
                    body=outgoing.body,
                    kind=outgoing.kind,
                    user_id=user_id,
                    compliance=outgoing.compliance,
                ),
                idempotency_key=outgoing.key,
                caused_by=event,
            )
            for outgoing in plan.outgoing
        ]
        # The message and the rows of the replies it asks for, in one write (the requests
        # themselves are emitted below, in their usual place). The message's record is this
        # handler's inbox (`handled`): found written, the event was applied before.
        recorded = await uow.messages.record_inbound(
            InboundSmsRecord(
                id=plan.message_id,
                user_id=user_id,
                body=payload.body,
                provider_sid=payload.message_sid,
                status="received",
                created_at=plan.at,
                updated_at=now,
                num_media=payload.num_media,
                route=decision.route,
                rate_exempt=decision.rate_exempt,
                event_id=event_id,
                attachments=tuple(
                    Attachment(
                        id=f"{plan.message_id}:{position}",
                        message_id=plan.message_id,
                        user_id=user_id,
                        url=media.url,
                        content_type=media.content_type,
                        position=position,
                        created_at=now,
                    )
                    for position, media in enumerate(payload.media)
                ),
            ),
            [outbound_request(request) for request in requests],
        )
        if not recorded and await self._applied(uow, plan.message_id):
            raise AlreadyProcessed
        for alert in decision.crises:
            await self._record_crisis(event, uow, plan, alert)
        if decision.assessment is not None:
            await uow.assessments.record(assessment_result(decision.assessment, user_id, plan.at))
        if plan.summary is not None:
            await uow.conversations.save_summary(user_id, plan.summary, now)
        if plan.reply is not None and plan.reply.tool_calls:
            reply_id = outbound_message_id(reply_key(event_id))
            await uow.tool_calls.record(
                [
                    ToolCall(reply_id, user_id, call, position, now)
                    for position, call in enumerate(plan.reply.tool_calls)
                ]
            )
        for request in requests:
            await uow.emit(request)
        if decision.opt_out is not None:
            await uow.emit(
                new_event(
                    SmsOptOutChanged(
                        phone=plan.phone,
                        opted_out=decision.opt_out.opted_out,
                        source=decision.opt_out.source,
                        user_id=user_id,
                        changed_at=plan.at,
                    ),
                    idempotency_key=f"opt-out-changed:{event_id}",
                    caused_by=event,
                )
            )
        after = decision.profile
        await uow.emit(
            new_event(
                profile_snapshot(after, plan.phone, plan.before.version + 1, plan.at),
                idempotency_key=f"profile:{event_id}",
                caused_by=event,
            )
        )
        exchange = [
            ConversationEntry(plan.message_id, "inbound", payload.body, plan.at),
            *(
                ConversationEntry(
                    outbound_message_id(o.key), "outbound", o.body, plan.at, kind=o.kind
                )
                for o in plan.outgoing
            ),
        ]
        keep = self._config.recent_messages
        if plan.new_profile:
            await uow.conversations.start_with(
                user_id, exchange, started_at=plan.at, keep=keep, now=now
            )
        else:
            await uow.conversations.add_exchange(user_id, exchange, keep=keep, now=now)
        # The last write: once it is done, the event's effect is complete.
        if plan.new_profile:
            committed = await uow.profiles.create(after, now)
        else:
            committed = await uow.profiles.update(plan.before, after, now)
        if not committed:
            raise ProfileChanged("the profile moved to a newer version")
        log.info("inbound sms handled", route=decision.route, user_id=user_id)

    async def handled(self, event: Envelope[SmsInboundReceived]) -> bool:
        """Whether the message's record says the event was applied (`Inbox.planned_with_own_
        record`: the record is this handler's inbox row)."""
        return await self._applied(self._reads, inbound_message_id(event.payload.message_sid))

    @staticmethod
    async def _applied(repositories: SmsRepositories, message_id: str) -> bool:
        """A message recorded by an applied event: any record but the one kept for an unusable
        sender (written with no transaction, before the event was parked — a replay after a
        fix must still be handled)."""
        record = await repositories.messages.inbound(message_id)
        return record is not None and record.status != REJECTED

    async def _record_crisis(
        self,
        event: Envelope[SmsInboundReceived],
        uow: SmsWork,
        plan: InboundPlan,
        alert: CrisisAlert,
    ) -> None:
        await uow.alerts.record(
            Alert(
                id=f"{plan.message_id}:{alert.source}",
                user_id=plan.user_id,
                message_id=plan.message_id,
                severity=alert.severity.value,
                domestic_violence=alert.domestic_violence,
                source=alert.source,
                needs_human_follow_up=alert.needs_human_follow_up,
                created_at=plan.at,
            )
        )
        await uow.emit(
            new_event(
                CrisisDetected(
                    user_id=plan.user_id,
                    phone=plan.phone,
                    severity=alert.severity.value,
                    domestic_violence=alert.domestic_violence,
                    source=alert.source,
                    detected_at=plan.at,
                ),
                idempotency_key=f"crisis-detected:{event.id}:{alert.source}",
                caused_by=event,
            )
        )
        log.warning(
            "crisis detected",
            severity=alert.severity.value,
            source=alert.source,
            needs_human_follow_up=alert.needs_human_follow_up,
            user_id=plan.user_id,
        )


async def request_sms(request: Envelope[SmsOutboundRequested], uow: SmsWork) -> None:
    """Ask the sender for an SMS and log it in the conversation log, `pending`, in the same
    transaction (the log learns of sends other services ask for from the sender's steps)."""
    await uow.emit(request)
    await uow.messages.record_request(outbound_request(request))


def outbound_request(request: Envelope[SmsOutboundRequested]) -> OutboundRequest:
    """The conversation log's row of a requested SMS."""
    payload = request.payload
    return OutboundRequest(
        key=request.idempotency_key,
        user_id=payload.user_id,
        body=payload.body,
        kind=payload.kind,
        requested_at=request.occurred_at,
    )


def assessment_result(
    completed: AssessmentCompleted, user_id: str, at: datetime
) -> AssessmentResult:
    """The stored result of a completed session, rounded as reports show it."""
    score = completed.score
    return AssessmentResult(
        id=completed.session_id,
        user_id=user_id,
        instrument=score.instrument,
        answers=completed.answers,
        score=float(round(score.score, 1)),
        band=score.band.value,
        confidence=float(round(score.confidence, 2)),
        zone_scores={z.value: float(round(v, 1)) for z, v in score.zone_scores.items()},
        pressure_zones=tuple(z.value for z in score.pressure_zones),
        raw_total=score.raw_total,
        severity=score.severity,
        completed_at=at,
    )


def profile_snapshot(
    profile: Profile, phone: str, version: int, changed_at: datetime
) -> UserProfileChanged:
    return UserProfileChanged(
        user_id=profile.user_id,
        phone=phone,
        version=version,
        journey_phase=profile.journey_phase,
        timezone=profile.timezone,
        first_name=profile.first_name,
        burnout_score=profile.burnout_score,
        burnout_band=profile.burnout_band.value if profile.burnout_band else None,
        last_contact_at=profile.last_contact_at,
        last_crisis_event_at=profile.last_crisis_event_at,
        crisis_followup_count=profile.crisis_followup_count,
        reactivation_message_count=profile.reactivation_message_count,
        sms_opt_out=profile.sms_opt_out,
        checkin_preference=profile.checkin_preference,
        snooze_until=profile.snooze_until,
        changed_at=changed_at,
    )


class OptOutChanges:
    """`sms.optout.changed`: carrier (21610), Twilio or admin opt-outs reach the profile; our own
    keyword events find their state already applied and change nothing."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def handle(self, event: Envelope[SmsOptOutChanged], uow: SmsWork) -> None:
        payload = event.payload
        user = await uow.users.by_phone(payload.phone)
        if user is None:
            log.info("opt-out change for an unknown number; nothing to apply")
            return
        applied = await uow.profiles.set_opt_out(
            user.id,
            opted_out=payload.opted_out,
            changed_at=aware(payload.changed_at),
            now=self._clock.now(),
        )
        log.info("opt-out change", applied=applied, source=payload.source)


class BillingAccess:
    """`billing.access.changed`: this service's read model of access, keyed by phone."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def handle(self, event: Envelope[BillingAccessChanged], uow: SmsWork) -> None:
        payload = event.payload
        applied = await uow.billing_access.apply(
            AccessRecord(
                phone=payload.phone,
                user_id=payload.user_id,
                has_access=payload.has_access,
                status=payload.status,
                current_period_end=payload.current_period_end,
                changed_at=aware(payload.changed_at),
                updated_at=self._clock.now(),
            )
        )
        log.info("billing access change", applied=applied, status=payload.status)
