"""`proactive_log`: the fake and the server agree — the first decision for a key is kept."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from services.sms_worker.records import ProactiveDecision
from tests.integration.sms_worker.conftest import SmsWorkIn

pytestmark = pytest.mark.integration

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
SENT = ProactiveDecision(
    key="proactive:u1:reactivation:1",
    event_id="e1",
    user_id="u1",
    kind="reactivation",
    stage=1,
    due_at=AT,
    outcome="sent",
    decided_at=AT,
    body="Hi Ana, thinking of you.",
)


async def test_the_first_decision_for_a_key_is_kept(sms_work_in: SmsWorkIn) -> None:
    assert await sms_work_in(lambda uow: uow.proactive_log.get(SENT.key)) is None
    await sms_work_in(lambda uow: uow.proactive_log.record(SENT))
    deferred = dataclasses.replace(SENT, outcome="deferred", reason="late", body=None)
    await sms_work_in(lambda uow: uow.proactive_log.record(deferred))
    assert await sms_work_in(lambda uow: uow.proactive_log.get(SENT.key)) == SENT
    suppressed = dataclasses.replace(
        SENT, key="proactive:u1:checkin:0", outcome="suppressed", reason="snoozed", body=None
    )
    await sms_work_in(lambda uow: uow.proactive_log.record(suppressed))
    assert await sms_work_in(lambda uow: uow.proactive_log.get(suppressed.key)) == suppressed
