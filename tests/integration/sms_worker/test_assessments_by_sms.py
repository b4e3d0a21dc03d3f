"""Acceptance: whole `ema` and `bsfc_s` sessions by SMS yield the documented score, band and
pressure zones — at the band boundaries, with skips, invalid answers and an expired session.
Each case is its own caregiver; the cases run side by side through one worker."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from services.sms_worker.domain import replies
from services.sms_worker.domain.assessments import question_text
from services.sms_worker.domain.instruments import BSFC_S, EMA
from tests.integration.sms_worker.conftest import START, SmsWorker, StartWorker

pytestmark = pytest.mark.integration

PH, EW, FC, TM, SS = (
    "physical_health",
    "emotional_wellbeing",
    "financial_concerns",
    "time_management",
    "social_support",
)


@dataclass(frozen=True)
class Case:
    name: str
    keyword: str
    answers: tuple[str, ...]
    score: float | None
    band: str | None
    zones: tuple[str, ...] = ()
    confidence: float = 1.0
    crisis: bool = False
    # Minutes after the session started at which each answer is sent (default: 1, 2, 3…).
    answer_minutes: tuple[int, ...] = field(default=())


def _digits(*values: int) -> tuple[str, ...]:
    return tuple(str(v) for v in values)


CASES = (
    Case(
        "bsfc 6 = 80 thriving",
        "ASSESS",
        _digits(0, 3, 0, 0, 0, 3, 0, 0, 0, 0),
        80.0,
        "thriving",
        (PH,),
    ),
    Case(
        "bsfc 7 = 76.7 mild", "ASSESS", _digits(0, 3, 0, 0, 0, 3, 0, 0, 0, 1), 76.7, "mild", (PH,)
    ),
    Case(
        "bsfc 12 = 60 mild", "ASSESS", _digits(0, 3, 0, 0, 3, 3, 0, 0, 3, 0), 60.0, "mild", (PH, FC)
    ),
    Case(
        "bsfc 13 = 56.7 moderate",
        "ASSESS",
        _digits(1, 3, 0, 0, 3, 3, 0, 0, 3, 0),
        56.7,
        "moderate",
        (PH, FC),
    ),
    Case(
        "bsfc 18 = 40 moderate",
        "ASSESS",
        _digits(0, 3, 0, 0, 3, 3, 3, 3, 3, 0),
        40.0,
        "moderate",
        (PH, FC, TM),
    ),
    Case(
        "bsfc 19 = 36.7 high",
        "ASSESS",
        _digits(1, 3, 0, 0, 3, 3, 3, 3, 3, 0),
        36.7,
        "high",
        (PH, FC, TM),
    ),
    Case(
        "bsfc 24 = 20 high",
        "ASSESS",
        _digits(3, 3, 3, 3, 3, 3, 3, 3, 0, 0),
        20.0,
        "high",
        (PH, EW, TM),
    ),
    Case(
        "bsfc 25 = 16.7 crisis",
        "ASSESS",
        _digits(3, 3, 3, 3, 3, 3, 3, 3, 1, 0),
        16.7,
        "crisis",
        (PH, EW, TM, FC),
        crisis=True,
    ),
    Case(
        "bsfc with a skip",
        "assess",
        ("2", "2", "2", "2", "2", "2", "2", "2", "2", "SKIP"),
        33.3,
        "high",
        (PH, EW, FC, TM),
        confidence=0.9,
    ),
    Case(
        "ema with invalid answers",
        "CHECKIN",
        ("7", "2", "nan", "4", "3.5", "", "2"),
        25.0,
        "high",
        (EW, TM, SS),
    ),
    Case("ema healthy, reverse item", "check in", _digits(5, 1, 5), 100.0, "thriving"),
    Case(
        "ema expired after 24 h",
        "CHECKIN",
        ("3", "4"),
        None,
        None,
        answer_minutes=(1, 24 * 60),
    ),
)


async def _onboard(worker: SmsWorker, phone: str) -> None:
    for minute, text in enumerate(["hi", "Ana", "my mom", "Rose", "02139"]):
        await worker.text(text, phone=phone, at=START + timedelta(minutes=minute))


async def _run_case(worker: SmsWorker, case: Case, phone: str) -> None:
    await _onboard(worker, phone)
    begin = START + timedelta(hours=1)
    instrument = BSFC_S if case.keyword.upper() == "ASSESS" else EMA
    (first,) = await worker.text(case.keyword, phone=phone, at=begin)
    assert first.body == question_text(instrument, 0), case.name
    minutes = case.answer_minutes or tuple(range(1, len(case.answers) + 1))
    last: list[str] = []
    for minute, text in zip(minutes, case.answers, strict=True):
        sent = await worker.text(text, phone=phone, at=begin + timedelta(minutes=minute))
        last = [request.body for request in sent]

    profile = await worker.profile(phone)
    assert profile["assessment"] is None, case.name
    results = worker.db.assessment_results.find({"user_id": profile["_id"]})
    stored = [row async for row in results]
    if case.score is None:
        assert last == [replies.ASSESSMENT_EXPIRED], case.name
        assert stored == [], case.name
        assert profile["burnout_score"] is None, case.name
        return
    assert (profile["burnout_score"], profile["burnout_band"]) == (case.score, case.band), case.name
    assert tuple(profile["pressure_zones"]) == case.zones, case.name
    assert profile["burnout_confidence"] == case.confidence, case.name
    (result,) = stored
    assert (result["instrument"], result["score"], result["band"]) == (
        instrument.id,
        case.score,
        case.band,
    ), case.name
    assert len(result["answers"]) == instrument.size, case.name
    assert last[0].startswith("Thanks for checking in."), case.name
    assert f"{round(case.score)}/100 ({case.band})" in last[0], case.name
    if case.crisis:
        assert "988" in last[1], case.name
        assert "741741" in last[1], case.name
        assert profile["last_crisis_event_at"] is not None, case.name
        assert await worker.db.alerts.count_documents({"source": "assessment"}) == 1
    else:
        assert len(last) == 1, case.name


async def test_sessions_by_sms_score_as_documented(start_sms_worker: StartWorker) -> None:
    async with start_sms_worker() as worker:
        await asyncio.gather(
            *(_run_case(worker, case, f"+1415555{index:04d}") for index, case in enumerate(CASES))
        )


async def test_cancel_inside_an_assessment_is_not_an_opt_out(
    start_sms_worker: StartWorker,
) -> None:
    phone = "+14155559999"
    async with start_sms_worker() as worker:
        await _onboard(worker, phone)
        await worker.text("CHECKIN", phone=phone, at=START + timedelta(hours=1))
        (cancelled,) = await worker.text("cancel", phone=phone, at=START + timedelta(hours=1))
        assert cancelled.body == replies.ASSESSMENT_CANCELLED
        assert not cancelled.compliance
        profile = await worker.profile(phone)
        assert (profile["sms_opt_out"], profile["assessment"]) == (False, None)
