"""The proactive consumer's handlers against the in-memory unit of work: a due message is sent,
suppressed or deferred, once; churn ends the journey unless the user wrote since."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.sms_worker.records import outbound_message_id
from shared.broker.consumer import AlreadyProcessed
from shared.events.catalog import ProactiveMessageDeferred, SmsOutboundRequested
from tests.unit.sms_worker.fake_worker import AT, PHONE, FakeSmsWorker

DAY = timedelta(days=1)


async def _worker_at(offset: timedelta) -> tuple[FakeSmsWorker, str]:
    """An onboarded caregiver; the worker's clock then moved on by `offset`."""
    worker = FakeSmsWorker()
    profile = await worker.onboard()
    worker.clock.advance(offset)
    return worker, profile.user_id


async def test_a_due_message_is_sent_once_recorded_and_remembered() -> None:
    worker, user_id = await _worker_at(8 * DAY)
    before = await worker.profile()
    due = worker.due(user_id, "reactivation", 1, AT + 8 * DAY)
    await worker.deliver_due(due)
    with pytest.raises(AlreadyProcessed):
        await worker.deliver_due(due)

    [request] = worker.caused(due, SmsOutboundRequested)
    assert (request.kind, request.to_number, request.user_id) == ("proactive", PHONE, user_id)
    assert request.body.startswith("Hi Ana,")
    profile = await worker.profile()
    assert (profile.version, profile.reactivation_message_count) == (before.version + 1, 1)
    assert profile.last_proactive_message_at == worker.clock.now()
    [snapshot] = worker.snapshots(due)
    assert snapshot.version == profile.version
    decision = await worker.uow.proactive_log.get(due.idempotency_key)
    assert decision is not None
    assert (decision.outcome, decision.reason, decision.body) == ("sent", None, request.body)
    conversation = await worker.uow.conversations.get(user_id)
    assert conversation is not None
    last = conversation.entries[-1]
    assert (last.id, last.kind, last.body) == (
        outbound_message_id(due.idempotency_key),
        "proactive",
        request.body,
    )
    assert conversation.interactions == 5  # our own message is no interaction


async def test_an_opted_out_user_is_suppressed_with_the_reason() -> None:
    worker, user_id = await _worker_at(2 * DAY)
    await worker.text("STOP", at=AT + DAY)
    before = await worker.profile()
    due = worker.due(user_id, "crisis_followup", 1, AT + 2 * DAY)
    await worker.deliver_due(due)

    assert worker.caused(due, SmsOutboundRequested) == []
    assert worker.snapshots(due) == []
    decision = await worker.uow.proactive_log.get(due.idempotency_key)
    assert decision is not None
    assert (decision.outcome, decision.reason, decision.body) == ("suppressed", "opted_out", None)
    assert await worker.profile() == before


async def test_an_unknown_user_is_suppressed() -> None:
    worker = FakeSmsWorker()
    due = worker.due("nobody", "checkin", 0, AT)
    await worker.deliver_due(due)
    decision = await worker.uow.proactive_log.get(due.idempotency_key)
    assert decision is not None
    assert (decision.outcome, decision.reason) == ("suppressed", "unknown_user")


async def test_a_message_consumed_too_late_is_deferred_and_the_scheduler_told() -> None:
    worker, user_id = await _worker_at(10 * DAY)
    before = await worker.profile()
    due = worker.due(user_id, "reactivation", 1, AT + 8 * DAY)  # two days old by now
    await worker.deliver_due(due)

    assert worker.caused(due, SmsOutboundRequested) == []
    [deferral] = worker.caused(due, ProactiveMessageDeferred)
    assert (deferral.reason, deferral.message_key, deferral.deferred_at) == (
        "late",
        due.idempotency_key,
        worker.clock.now(),
    )
    decision = await worker.uow.proactive_log.get(due.idempotency_key)
    assert decision is not None
    assert (decision.outcome, decision.reason) == ("deferred", "late")
    assert await worker.profile() == before


async def test_a_message_consumed_at_night_is_deferred_outside_the_window() -> None:
    worker, user_id = await _worker_at(8 * DAY + timedelta(hours=10))  # 01:00 in New York
    due = worker.due(user_id, "reactivation", 1, AT + 8 * DAY)
    await worker.deliver_due(due)
    [deferral] = worker.caused(due, ProactiveMessageDeferred)
    assert deferral.reason == "outside_window"


async def test_churn_ends_the_journey_once() -> None:
    worker, user_id = await _worker_at(40 * DAY)
    before = await worker.profile()
    churned = worker.churned(user_id, AT + 40 * DAY)
    await worker.deliver_churn(churned)

    profile = await worker.profile()
    assert (profile.journey_phase, profile.version) == ("churned", before.version + 1)
    [snapshot] = worker.snapshots(churned)
    assert (snapshot.journey_phase, snapshot.version) == ("churned", profile.version)
    again = worker.churned(user_id, AT + 41 * DAY)
    await worker.deliver_churn(again)
    assert worker.snapshots(again) == []
    assert await worker.profile() == profile


async def test_churn_after_the_user_wrote_keeps_them_active_but_resyncs_the_scheduler() -> None:
    worker, user_id = await _worker_at(8 * DAY)
    await worker.deliver_due(worker.due(user_id, "reactivation", 1, AT + 8 * DAY))
    await worker.text("still here", at=AT + 9 * DAY)
    before = await worker.profile()
    churned = worker.churned(user_id, AT + 40 * DAY)
    await worker.deliver_churn(churned)

    profile = await worker.profile()
    assert (profile.journey_phase, profile.version) == ("active", before.version + 1)
    [snapshot] = worker.snapshots(churned)
    assert (snapshot.journey_phase, snapshot.version) == ("active", profile.version)


async def test_churn_for_an_unknown_user_changes_nothing() -> None:
    worker = FakeSmsWorker()
    churned = worker.churned("nobody", AT)
    await worker.deliver_churn(churned)
    assert worker.uow.emitted == []
    assert worker.uow.profiles.rows == {}
