"""Running an assessment over SMS and scoring it: pure functions of (session, text, time).

Answers are normalised to 0-100 with higher = healthier (reverse-scored items flipped, skips
left out), the burnout score is their mean, bands and pressure zones follow from it. Arithmetic
is exact (`Fraction`), so a score of exactly 20 is `high`, never a 19.999… `crisis`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, ConfigDict

from services.sms_worker.domain import replies
from services.sms_worker.domain.instruments import INSTRUMENTS, Instrument, Zone


class Band(StrEnum):
    CRISIS = "crisis"
    HIGH = "high"
    MODERATE = "moderate"
    MILD = "mild"
    THRIVING = "thriving"


# Lower bound (inclusive) of each band, highest first.
_BAND_FLOORS = ((80, Band.THRIVING), (60, Band.MILD), (40, Band.MODERATE), (20, Band.HIGH))
# A zone is under pressure when its pressure (100 - zone score) is above this.
PRESSURE_THRESHOLD = 50


def band_for(score: Fraction | float) -> Band:
    for floor, band in _BAND_FLOORS:
        if score >= floor:
            return band
    return Band.CRISIS


class AssessmentSession(BaseModel):
    """An assessment in progress, kept on the profile."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    instrument: str
    session_id: str
    started_at: datetime
    # One entry per question answered so far; None is a skip.
    answers: tuple[int | None, ...] = ()

    @property
    def question_index(self) -> int:
        return len(self.answers)


@dataclass(frozen=True)
class Score:
    instrument: str
    score: Fraction
    band: Band
    # Share of items answered (not skipped).
    confidence: Fraction
    zone_scores: dict[Zone, Fraction]
    pressure_zones: tuple[Zone, ...]
    # The instrument's own raw total and severity band, when every item was answered.
    raw_total: int | None
    severity: str | None


Outcome = Literal["asked", "invalid", "cancelled", "restarted", "expired", "completed", "unscored"]


@dataclass(frozen=True)
class AssessmentStep:
    """The session after one message (None once it ended), the reply, and the score if done."""

    session: AssessmentSession | None
    reply: str
    outcome: Outcome
    score: Score | None = None
    # Every answer of the session once it completed (None = skipped).
    answers: tuple[int | None, ...] = ()


class _Skip:
    pass


SKIP = _Skip()
_CONTROL_WORDS = frozenset({"cancel", "restart"})
_SKIP_WORD = "skip"
# Number words read as their number; those off every scale still tell an attempted answer from
# free text (they get the "not on the scale" reply).
_NUMBER_WORDS = MappingProxyType(
    {
        word: value
        for value, word in enumerate(
            ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
        )
    }
)
# A whole number as typed in a reply: "3", "+3", "#2", "2)", "(2)"; trailing .!? already gone.
_INTEGER = re.compile(r"^[#(]?\s*([+-]?\d{1,3})\s*\)?$")
# Anything that reads as a number, on the scale or not ("7", "-1", "3.5", "#12", "1,5").
_NUMERIC = re.compile(r"^[#(]?\s*[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)\s*\)?$")


def _candidate(text: str) -> str:
    """The message as one answer: lower-case, whitespace collapsed, trailing `.!?` dropped."""
    return " ".join(text.split()).lower().rstrip(" .!?")


def _control(text: str) -> str | None:
    """The control word (cancel, restart) that is the whole message, in any case, `.!?` after."""
    word = _candidate(text)
    return word if word in _CONTROL_WORDS else None


def parse_answer(instrument: Instrument, text: str) -> int | _Skip | None:
    """An answer on the instrument's scale, SKIP, or None (not an answer: NaN, 3.5, 7, "").

    Case, surrounding whitespace and trailing `.!?` never matter ("Skip.", "4!", " 3 "); a
    number may be written "#2", "2)" or "(2)", or as a word ("three"). A number off the scale
    is not an answer.
    """
    word = _candidate(text)
    if word in instrument.answer_words:
        return instrument.answer_words[word]
    if word == _SKIP_WORD:
        return SKIP
    value = _number(word)
    if value is None:
        return None
    return value if instrument.scale_min <= value <= instrument.scale_max else None


def is_session_reply(instrument: Instrument, text: str) -> bool:
    """Whether `text`, inside a session of `instrument`, steers it: an answer on the scale,
    SKIP, CANCEL or RESTART. Such a message is the session's, not free text to read otherwise
    (the safety screen reads some of them, "3." or "Cancel.", as an unclear revocation)."""
    return _control(text) is not None or parse_answer(instrument, text) is not None


def _number(word: str) -> int | None:
    """The whole number `word` spells, if it is one."""
    if word in _NUMBER_WORDS:
        return _NUMBER_WORDS[word]
    match = _INTEGER.match(word)
    return int(match.group(1)) if match else None


def _looks_numeric(text: str) -> bool:
    """Whether `text` was meant as a number (an attempted answer), on the scale or not."""
    word = _candidate(text)
    return word in _NUMBER_WORDS or _NUMERIC.match(word) is not None


def normalise(instrument: Instrument, item_index: int, value: int) -> Fraction:
    """`value` on 0-100, higher = healthier."""
    span = instrument.scale_max - instrument.scale_min
    position = Fraction(value - instrument.scale_min, span) * 100
    return 100 - position if instrument.items[item_index].reverse else position


def score_answers(instrument: Instrument, answers: Sequence[int | None]) -> Score | None:
    """Score a complete set of answers (None = skipped); None when nothing was answered."""
    if len(answers) != instrument.size:
        raise ValueError(f"{instrument.id} has {instrument.size} items, got {len(answers)}")
    by_zone: dict[Zone, list[Fraction]] = {}
    normalised: list[Fraction] = []
    for index, value in enumerate(answers):
        if value is None:
            continue
        if not instrument.scale_min <= value <= instrument.scale_max:
            raise ValueError(f"answer {value} is off the {instrument.id} scale")
        point = normalise(instrument, index, value)
        normalised.append(point)
        by_zone.setdefault(instrument.items[index].zone, []).append(point)
    if not normalised:
        return None
    score = sum(normalised, Fraction(0)) / len(normalised)
    zone_scores = {zone: sum(points, Fraction(0)) / len(points) for zone, points in by_zone.items()}
    zone_order = list(Zone)
    pressured = sorted(
        (zone for zone, value in zone_scores.items() if 100 - value > PRESSURE_THRESHOLD),
        key=lambda zone: (zone_scores[zone], zone_order.index(zone)),
    )
    raw_total = sum(v for v in answers if v is not None) if None not in answers else None
    return Score(
        instrument=instrument.id,
        score=score,
        band=band_for(score),
        confidence=Fraction(len(normalised), instrument.size),
        zone_scores=zone_scores,
        pressure_zones=tuple(pressured),
        raw_total=raw_total,
        severity=_severity(instrument, raw_total),
    )


def _severity(instrument: Instrument, raw_total: int | None) -> str | None:
    if raw_total is None:
        return None
    for band in instrument.severity_bands:
        if raw_total <= band.max_total:
            return band.name
    return None


def question_text(instrument: Instrument, index: int) -> str:
    item = instrument.items[index]
    return f"{index + 1}/{instrument.size}: {item.text} {instrument.answer_hint}"


def zone_label(zone: Zone) -> str:
    return zone.value.replace("_", " ")


def cooldown_remaining(
    instrument: Instrument, last_completed_at: datetime | None, at: datetime
) -> timedelta | None:
    """How long until `instrument` may be taken again, or None when it may be taken now."""
    if last_completed_at is None or at >= last_completed_at + instrument.cooldown:
        return None
    return last_completed_at + instrument.cooldown - at


def start(instrument: Instrument, session_id: str, at: datetime) -> AssessmentStep:
    session = AssessmentSession(instrument=instrument.id, session_id=session_id, started_at=at)
    return AssessmentStep(session, question_text(instrument, 0), "asked")


def is_expired(session: AssessmentSession, at: datetime, expiry: timedelta) -> bool:
    return at >= session.started_at + expiry


def answer(
    session: AssessmentSession, text: str, *, at: datetime, expiry: timedelta, restart_id: str
) -> AssessmentStep:
    """Apply one message to a session: an answer, SKIP, CANCEL, RESTART, or something else.

    Something else (free text, a number off the scale) is acknowledged and the caregiver is
    offered to go on (the question's number and scale, SKIP) or end (CANCEL); the session is
    returned unchanged. `restart_id` names the new session if the user restarts.
    """
    instrument = INSTRUMENTS[session.instrument]
    if is_expired(session, at, expiry):
        return AssessmentStep(None, replies.ASSESSMENT_EXPIRED, "expired")
    command = _control(text)
    if command == "cancel":
        return AssessmentStep(None, replies.ASSESSMENT_CANCELLED, "cancelled")
    if command == "restart":
        restarted = start(instrument, restart_id, at)
        return AssessmentStep(restarted.session, restarted.reply, "restarted")
    parsed = parse_answer(instrument, text)
    if parsed is None:
        # Not an answer: acknowledged, with the way on (this question, SKIP) or out (CANCEL);
        # the session stays where it was.
        reply = replies.assessment_not_an_answer(
            question=session.question_index + 1,
            size=instrument.size,
            scale_min=instrument.scale_min,
            scale_max=instrument.scale_max,
            off_scale=_looks_numeric(text),
        )
        return AssessmentStep(session, reply, "invalid")
    value = None if isinstance(parsed, _Skip) else parsed
    answers = (*session.answers, value)
    if len(answers) < instrument.size:
        advanced = session.model_copy(update={"answers": answers})
        return AssessmentStep(advanced, question_text(instrument, len(answers)), "asked")
    score = score_answers(instrument, answers)
    if score is None:
        return AssessmentStep(None, replies.ASSESSMENT_UNSCORED, "unscored", answers=answers)
    top = zone_label(score.pressure_zones[0]) if score.pressure_zones else None
    reply = replies.assessment_result(math.floor(score.score + Fraction(1, 2)), score.band, top)
    return AssessmentStep(None, reply, "completed", score, answers)
