"""The inbound consumer's handlers against the in-memory unit of work: what one SMS, an opt-out
change or a billing change writes and emits, exactly once, in milliseconds."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

import pytest

from services.sms_worker.domain import replies
from services.sms_worker.domain.responder import (
    HistoryEntry,
    ResponderContext,
    ResponderReply,
    Summary,
    ToolCallRecord,
)
from services.sms_worker.handlers import InboundPlan, InboundSms
from services.sms_worker.records import (
    InboundSmsRecord,
    inbound_message_id,
    outbound_message_id,
)
from shared.broker import PermanentError
from shared.broker.consumer import AlreadyProcessed
from shared.events import Envelope
from shared.events.catalog import (
    CrisisDetected,
    SmsInboundReceived,
    SmsOptOutChanged,
    SmsOutboundRequested,
)
from shared.unit_of_work import StalePlan
from tests.fakes.sms_worker import FakeSmsWork
from tests.unit.sms_worker.fake_worker import AT, PHONE, FakeSmsWorker


async def test_a_first_message_creates_the_user_and_asks_their_name() -> None:
    worker = FakeSmsWorker()
    event = worker.inbound("hi")
    await worker.deliver_inbound(event)

    [request] = worker.caused(event, SmsOutboundRequested)
    assert (request.body, request.kind, request.to_number) == (replies.WELCOME, "onboarding", PHONE)
    user = await worker.uow.users.by_phone(PHONE)
    assert user is not None
    profile = await worker.profile()
    assert (profile.version, profile.journey_phase, profile.last_contact_at) == (
        1,
        "onboarding",
        AT,
    )
    message = await worker.uow.messages.inbound(inbound_message_id(event.payload.message_sid))
    assert message is not None
    assert (message.user_id, message.route, message.status) == (user.id, "onboarding", "received")
    conversation = await worker.uow.conversations.get(user.id)
    assert conversation is not None
    assert [e.direction for e in conversation.entries] == ["inbound", "outbound"]
    assert conversation.entries[1].id == outbound_message_id(f"reply:{event.id}")
    assert (conversation.interactions, conversation.started_at) == (1, AT)
    [snapshot] = worker.snapshots(event)
    assert (snapshot.user_id, snapshot.version) == (user.id, 1)


async def test_a_redelivered_message_changes_nothing() -> None:
    worker = FakeSmsWorker()
    event = worker.inbound("hi")
    await worker.deliver_inbound(event)
    emitted = list(worker.uow.emitted)
    with pytest.raises(AlreadyProcessed):
        await worker.deliver_inbound(event)
    assert worker.uow.emitted == emitted
    assert (await worker.profile()).version == 1


async def test_the_messages_record_is_its_inbox_so_a_repeat_changes_nothing() -> None:
    worker = FakeSmsWorker()
    event = worker.inbound("hi")
    await worker.deliver_inbound(event)
    emitted = list(worker.uow.emitted)
    # The same message under another event id (never from ingress, which makes one event per
    # sid): its record says it was applied, and the repeat is dropped inside the transaction.
    again = event.model_copy(update={"id": uuid.uuid4()})
    with pytest.raises(AlreadyProcessed):
        await worker.deliver_inbound(again)
    plan = await worker.inbound_handler.plan(again)
    with pytest.raises(AlreadyProcessed):
        await worker.uow.run(lambda uow: worker.inbound_handler.apply(again, plan, uow))
    assert worker.uow.emitted == emitted
    assert (await worker.profile()).version == 1


async def test_a_message_kept_as_rejected_is_still_handled_when_its_event_comes_again() -> None:
    worker = FakeSmsWorker()
    event = worker.inbound("hi")
    message_id = inbound_message_id(event.payload.message_sid)
    await worker.uow.messages.record_inbound(
        InboundSmsRecord(
            id=message_id,
            user_id=None,
            body="hi",
            provider_sid=event.payload.message_sid,
            status="rejected",
            created_at=AT,
            updated_at=AT,
            error="unusable sender",
        )
    )
    await worker.deliver_inbound(event)
    assert len(worker.caused(event, SmsOutboundRequested)) == 1
    assert (await worker.profile()).version == 1


async def test_four_answers_complete_onboarding_and_each_moves_the_version() -> None:
    worker = FakeSmsWorker()
    profile = await worker.onboard()
    assert (profile.first_name, profile.relationship, profile.care_recipient_name) == (
        "Ana",
        "mom",
        "Rosa",
    )
    assert (profile.zip_code, profile.timezone, profile.version) == ("02139", "America/New_York", 5)
    assert profile.assessment_offer == "bsfc_s"
    conversation = await worker.uow.conversations.get(profile.user_id)
    assert conversation is not None
    assert conversation.interactions == 5


async def test_a_completed_assessment_is_recorded_and_scores_the_profile() -> None:
    worker = FakeSmsWorker()
    await worker.onboard()
    [start] = await worker.text("yes")
    assert start.kind == "assessment"
    answers = 0
    while (await worker.profile()).assessment is not None:
        await worker.text("2")
        answers += 1
        assert answers <= 30, "the assessment never completed"
    profile = await worker.profile()
    assert profile.assessment is None
    assert profile.burnout_score is not None
    session_id = next(iter(worker.uow.assessments.rows))
    result = await worker.uow.assessments.get(session_id)
    assert result is not None
    assert (result.user_id, result.instrument, len(result.answers)) == (
        profile.user_id,
        "bsfc_s",
        answers,
    )
    assert result.band == profile.burnout_band


async def test_high_crisis_is_answered_alerted_and_starts_the_cascade() -> None:
    worker = FakeSmsWorker()
    profile = await worker.onboard()
    event = worker.inbound("I can't do this. I want to end my life", at=AT + timedelta(hours=1))
    await worker.deliver_inbound(event)

    [request] = worker.caused(event, SmsOutboundRequested)
    assert request.kind == "crisis"
    assert "988" in request.body
    [detected] = worker.caused(event, CrisisDetected)
    assert (detected.severity, detected.source) == ("high", "message")
    message_id = inbound_message_id(event.payload.message_sid)
    alert = await worker.uow.alerts.get(f"{message_id}:message")
    assert alert is not None
    assert (alert.user_id, alert.severity, alert.status, alert.needs_human_follow_up) == (
        profile.user_id,
        "high",
        "open",
        False,
    )
    after = await worker.profile()
    assert (after.last_crisis_event_at, after.crisis_followup_count) == (
        AT + timedelta(hours=1),
        0,
    )
    message = await worker.uow.messages.inbound(message_id)
    assert message is not None
    assert (message.route, message.rate_exempt) == ("crisis", True)


async def test_medium_crisis_gets_support_then_the_usual_reply_and_no_cascade() -> None:
    worker = FakeSmsWorker()
    await worker.onboard()
    event = worker.inbound("I can't cope anymore", at=AT + timedelta(hours=1))
    await worker.deliver_inbound(event)

    support, reply = worker.caused(event, SmsOutboundRequested)
    assert (support.kind, support.body) == ("crisis", replies.CRISIS_SUPPORT)
    assert reply.kind == "reply"
    [detected] = worker.caused(event, CrisisDetected)
    assert detected.severity == "medium"
    assert (await worker.profile()).last_crisis_event_at is None


async def test_a_revocation_with_crisis_language_opts_out_with_the_resources() -> None:
    worker = FakeSmsWorker()
    await worker.onboard()
    event = worker.inbound("stop texting me, I want to kill myself", at=AT + timedelta(hours=1))
    await worker.deliver_inbound(event)

    [confirmation] = worker.caused(event, SmsOutboundRequested)
    assert confirmation.compliance
    assert "988" in confirmation.body
    [change] = worker.caused(event, SmsOptOutChanged)
    assert (change.opted_out, change.source, change.phone) == (True, "free_text", PHONE)
    [detected] = worker.caused(event, CrisisDetected)
    assert detected.severity == "high"
    profile = await worker.profile()
    assert profile.sms_opt_out
    assert profile.last_crisis_event_at == AT + timedelta(hours=1)


async def test_over_the_rate_limit_one_notice_a_day_then_silence() -> None:
    worker = FakeSmsWorker()
    await worker.onboard()
    routes: list[str] = []
    requests: list[list[SmsOutboundRequested]] = []
    for minute in range(1, 30):
        event = worker.inbound("thanks", at=AT + timedelta(minutes=minute))
        await worker.deliver_inbound(event)
        message = await worker.uow.messages.inbound(inbound_message_id(event.payload.message_sid))
        assert message is not None
        assert message.route is not None
        routes.append(message.route)
        requests.append(worker.caused(event, SmsOutboundRequested))
    # Five onboarding messages and 25 more make 30, the limit: the 26th is over it.
    assert routes[:25] == ["responder"] * 25
    assert routes[25:] == ["rate_limited"] * 4
    assert [r.kind for r in requests[25]] == ["rate_limit_notice"]
    assert requests[26:] == [[], [], []]


async def test_a_sender_that_is_no_phone_number_is_kept_and_parked() -> None:
    worker = FakeSmsWorker()
    event = worker.inbound("hello", phone="GiveCareX")
    with pytest.raises(PermanentError):
        await worker.deliver_inbound(event)
    message = await worker.uow.messages.inbound(inbound_message_id(event.payload.message_sid))
    assert message is not None
    assert (message.status, message.user_id) == ("rejected", None)
    assert worker.uow.users.rows == {}
    assert worker.uow.emitted == []


class _RaceOnce:
    """`InboundSms` whose first plan is overtaken: `race` runs between plan and apply."""

    def __init__(self, inner: InboundSms, race: Callable[[], Awaitable[None]]) -> None:
        self._inner = inner
        self._race: Callable[[], Awaitable[None]] | None = race

    async def plan(self, event: Envelope[SmsInboundReceived]) -> InboundPlan:
        plan = await self._inner.plan(event)
        if self._race is not None:
            race, self._race = self._race, None
            await race()
        return plan

    async def apply(
        self, event: Envelope[SmsInboundReceived], plan: InboundPlan, uow: FakeSmsWork
    ) -> None:
        await self._inner.apply(event, plan, uow)


@pytest.mark.parametrize("onboarded", [True, False], ids=["profile moved on", "user created"])
async def test_a_plan_overtaken_by_another_message_is_made_again(onboarded: bool) -> None:
    worker = FakeSmsWorker()
    if onboarded:
        await worker.onboard()
    first = worker.inbound("hello there", at=AT + timedelta(hours=1))
    second = worker.inbound("anyone there?", at=AT + timedelta(hours=1, seconds=1))
    deliver = worker.inbox.planned(
        _RaceOnce(worker.inbound_handler, lambda: worker.deliver_inbound(second))
    )
    await deliver(first)

    assert worker.inbox.plans[str(first.id)] == 2
    profile = await worker.profile()
    assert profile.version == (7 if onboarded else 2)
    snapshots = [*worker.snapshots(second), *worker.snapshots(first)]
    assert [s.version for s in snapshots] == [profile.version - 1, profile.version]
    assert len(worker.uow.users.rows) == 1
    conversation = await worker.uow.conversations.get(profile.user_id)
    assert conversation is not None
    inbound = [e.body for e in conversation.entries if e.direction == "inbound"]
    assert inbound[-2:] == ["anyone there?", "hello there"]


class _AlwaysOvertaken:
    """Another message of the same user wins every race: the plan never applies."""

    def __init__(self, worker: FakeSmsWorker) -> None:
        self._worker = worker
        self._minute = 0

    async def plan(self, event: Envelope[SmsInboundReceived]) -> InboundPlan:
        plan = await self._worker.inbound_handler.plan(event)
        self._minute += 1
        await self._worker.text("again", at=AT + timedelta(hours=2, minutes=self._minute))
        return plan

    async def apply(
        self, event: Envelope[SmsInboundReceived], plan: InboundPlan, uow: FakeSmsWork
    ) -> None:
        await self._worker.inbound_handler.apply(event, plan, uow)


async def test_a_plan_stale_every_time_goes_to_the_broker_with_nothing_written() -> None:
    worker = FakeSmsWorker()
    await worker.onboard()
    event = worker.inbound("hello there", at=AT + timedelta(hours=1))
    with pytest.raises(StalePlan):
        await worker.inbox.planned(_AlwaysOvertaken(worker))(event)
    assert worker.caused(event, SmsOutboundRequested) == []
    assert await worker.uow.messages.inbound(inbound_message_id(event.payload.message_sid)) is None


class _ToolUsingResponder:
    """An LLM-like responder: reads history, calls a tool, writes summaries."""

    uses_history = True

    async def reply(self, context: ResponderContext) -> ResponderReply:
        call = ToolCallRecord("call-1", "caregiver_resources", {"topic": "respite"}, "ok")
        return ResponderReply("Here is a respite line.", "llm", (call,))

    async def summarise(self, previous: str | None, entries: Sequence[HistoryEntry]) -> Summary:
        return Summary(f"{len(entries)} entries", tokens=12)


async def test_tool_calls_and_a_due_summary_are_stored_with_the_reply() -> None:
    worker = FakeSmsWorker(responder=_ToolUsingResponder())
    profile = await worker.onboard()
    event = worker.inbound("any help nearby?", at=AT + timedelta(hours=1))
    await worker.deliver_inbound(event)

    reply_id = outbound_message_id(f"reply:{event.id}")
    [call] = await worker.uow.tool_calls.of_message(reply_id)
    assert (call.user_id, call.call.name, call.position) == (
        profile.user_id,
        "caregiver_resources",
        0,
    )
    conversation = await worker.uow.conversations.get(profile.user_id)
    assert conversation is not None
    assert conversation.summary_version >= 1
    assert conversation.summary is not None
    assert conversation.summary.endswith("entries")


async def test_an_opt_out_change_applies_only_when_newer() -> None:
    worker = FakeSmsWorker()
    await worker.onboard()
    before = await worker.profile()
    await worker.deliver_opt_out(worker.opt_out_change(True, AT + timedelta(days=1)))
    after = await worker.profile()
    assert (after.sms_opt_out, after.opted_out_at, after.version) == (
        True,
        AT + timedelta(days=1),
        before.version + 1,
    )
    await worker.deliver_opt_out(worker.opt_out_change(False, AT + timedelta(hours=12)))
    assert await worker.profile() == after


async def test_an_opt_out_change_for_an_unknown_number_is_ignored() -> None:
    worker = FakeSmsWorker()
    await worker.deliver_opt_out(worker.opt_out_change(True, AT, phone="+14155550199"))
    assert worker.uow.profiles.rows == {}
    assert worker.uow.emitted == []


async def test_billing_access_is_kept_by_phone_newest_first_and_gates_replies() -> None:
    worker = FakeSmsWorker(subscriptions_enabled=True)
    # Heard of before the number first texts: it waits, keyed by phone.
    await worker.deliver_access(worker.access_change(True, AT - timedelta(days=2)))
    await worker.onboard()
    await worker.deliver_access(worker.access_change(False, AT + timedelta(hours=1), "past_due"))
    await worker.deliver_access(worker.access_change(True, AT))  # older: changes nothing
    stored = await worker.uow.billing_access.get(PHONE)
    assert stored is not None
    assert (stored.has_access, stored.status) == (False, "past_due")

    [gate] = await worker.text("how are you?", at=AT + timedelta(hours=2))
    assert gate.kind == "subscription_gate"
