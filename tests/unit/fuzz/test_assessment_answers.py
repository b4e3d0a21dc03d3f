"""Assessment answers by SMS: any text is an answer on the scale, a skip, or not an answer, and
a session moves at most one question per message, never off the scale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.sms_worker.domain.assessments import (
    SKIP,
    AssessmentSession,
    answer,
    band_for,
    parse_answer,
)
from services.sms_worker.domain.instruments import INSTRUMENTS, Instrument
from tests.support.fuzzing import fuzz_settings, hostile_text, words_and_noise

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
EXPIRY = timedelta(hours=24)
instruments = st.sampled_from(sorted(INSTRUMENTS.values(), key=lambda i: i.id))
replies = (
    words_and_noise(
        "1", "2", "3", "5", "7", "-1", "3.5", "skip", "SKIP", "cancel", "restart", "NaN"
    )
    | st.integers(-1_000, 1_000).map(str)
    | hostile_text
)


@fuzz_settings(150)
@given(instruments, replies)
def test_any_reply_is_on_the_scale_a_skip_or_not_an_answer(
    instrument: Instrument, text: str
) -> None:
    parsed = parse_answer(instrument, text)
    assert (
        parsed is None
        or parsed is SKIP
        or (isinstance(parsed, int) and instrument.scale_min <= parsed <= instrument.scale_max)
    )


@fuzz_settings(120)
@given(
    instruments.flatmap(lambda i: st.tuples(st.just(i), st.integers(i.scale_min, i.scale_max))),
    st.text(st.sampled_from(" \t"), max_size=2),
    st.sampled_from(["", ".", "!"]),
    st.text(st.sampled_from(" \t"), max_size=2),
)
def test_a_number_on_the_scale_is_that_answer_however_typed(
    drawn: tuple[Instrument, int], before: str, mark: str, after: str
) -> None:
    instrument, value = drawn
    assert parse_answer(instrument, f"{before}{value}{mark}{after}") == value


@fuzz_settings(100)
@given(instruments, st.integers(-(10**6), 10**6))
def test_a_number_off_the_scale_is_not_an_answer(instrument: Instrument, value: int) -> None:
    if not instrument.scale_min <= value <= instrument.scale_max:
        assert parse_answer(instrument, str(value)) is None


@st.composite
def sessions(draw: st.DrawFn) -> AssessmentSession:
    instrument = draw(instruments)
    scale = st.integers(instrument.scale_min, instrument.scale_max) | st.none()
    answered = draw(st.lists(scale, max_size=instrument.size - 1))
    started = AT - draw(st.timedeltas(timedelta(0), timedelta(hours=30)))
    return AssessmentSession(
        instrument=instrument.id, session_id="s1", started_at=started, answers=tuple(answered)
    )


@fuzz_settings(150)
@given(sessions(), replies)
def test_a_message_moves_a_session_by_at_most_one_question(
    session: AssessmentSession, text: str
) -> None:
    instrument = INSTRUMENTS[session.instrument]
    step = answer(session, text, at=AT, expiry=EXPIRY, restart_id="s2")
    assert step.reply
    if step.outcome == "asked":
        assert step.session is not None
        assert step.session.answers[:-1] == session.answers
        value = step.session.answers[-1]
        assert value is None or instrument.scale_min <= value <= instrument.scale_max
    elif step.outcome == "invalid":
        assert step.session == session
    elif step.outcome == "restarted":
        assert step.session is not None
        assert step.session.answers == ()
    elif step.outcome == "completed":
        assert step.session is None
        assert step.score is not None
        assert len(step.answers) == instrument.size
        assert 0 <= step.score.score <= 100
        assert step.score.band is band_for(step.score.score)
    else:
        assert step.outcome in {"cancelled", "expired", "unscored"}
        assert step.session is None
