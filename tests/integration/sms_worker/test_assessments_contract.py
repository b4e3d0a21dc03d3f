"""`assessment_results`: the fake and the server agree — a session's first result is kept,
skips and all."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from services.sms_worker.records import AssessmentResult
from tests.integration.sms_worker.conftest import SmsWorkIn

pytestmark = pytest.mark.integration

RESULT = AssessmentResult(
    id="s1",
    user_id="u1",
    instrument="bsfc_s",
    answers=(2, None, 3, 1),
    score=41.7,
    band="moderate",
    confidence=0.75,
    zone_scores={"emotional": 33.3, "physical": 50.0},
    pressure_zones=("emotional",),
    raw_total=None,
    severity=None,
    completed_at=datetime(2026, 3, 2, 15, 0, tzinfo=UTC),
)


async def test_a_session_keeps_its_first_result(sms_work_in: SmsWorkIn) -> None:
    assert await sms_work_in(lambda uow: uow.assessments.get("s1")) is None
    await sms_work_in(lambda uow: uow.assessments.record(RESULT))
    await sms_work_in(lambda uow: uow.assessments.record(dataclasses.replace(RESULT, score=0.0)))
    assert await sms_work_in(lambda uow: uow.assessments.get("s1")) == RESULT
