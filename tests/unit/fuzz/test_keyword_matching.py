"""Compliance keywords match the whole message or nothing: a keyword inside a sentence is never
a command, and a keyword alone is one however it is cased, padded or punctuated."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from services.sms_worker.domain.keywords import (
    CHECKIN_KEYWORDS,
    HELP_KEYWORDS,
    OPT_IN_KEYWORDS,
    OPT_IN_WHILE_OPTED_OUT,
    OPT_OUT_KEYWORDS,
    Command,
    classify,
    is_reserved_word,
)
from tests.support.fuzzing import fuzz_settings, hostile_text, words_and_noise

KEYWORDS = sorted(
    OPT_OUT_KEYWORDS
    | OPT_IN_KEYWORDS
    | OPT_IN_WHILE_OPTED_OUT
    | HELP_KEYWORDS
    | set(CHECKIN_KEYWORDS)
)
messages = words_and_noise(*KEYWORDS, *(k.lower() for k in KEYWORDS), "me", "texting", "please")
padding = st.text(st.sampled_from(" \t\n"), max_size=3)


@st.composite
def spelled(draw: st.DrawFn, keywords: list[str]) -> tuple[str, str]:
    """A keyword as a person might type it: any case, spaces around, `.`/`!`/`?` after."""
    keyword = draw(st.sampled_from(keywords))
    cases = draw(st.lists(st.booleans(), min_size=len(keyword), max_size=len(keyword)))
    typed = "".join(c.lower() if low else c for c, low in zip(keyword, cases, strict=True))
    ending = draw(st.text(st.sampled_from(".!?"), max_size=3))
    return keyword, draw(padding) + typed + ending + draw(padding)


@fuzz_settings(150)
@given(messages | hostile_text, st.booleans(), st.booleans())
def test_keyword_commands_come_only_from_the_whole_message(
    text: str, opted_out: bool, in_assessment: bool
) -> None:
    found = classify(text, opted_out=opted_out, in_assessment=in_assessment)
    if found is not None and not found[1]:  # a keyword, not free text
        # Nothing in the message but one keyword, spaces and end punctuation.
        assert re.sub(r"[\s.!?]", "", text).upper() in KEYWORDS


@fuzz_settings(120)
@given(
    spelled(KEYWORDS),
    st.sampled_from(["please", "I", "can you", "my", "no"]),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_a_keyword_inside_a_sentence_is_not_a_keyword(
    spelling: tuple[str, str], word: str, before: bool, opted_out: bool, in_assessment: bool
) -> None:
    _, typed = spelling
    text = f"{word} {typed.strip()}" if before else f"{typed.strip()} {word}"
    found = classify(text, opted_out=opted_out, in_assessment=in_assessment)
    # Free-text revocations ("please stop texting") are the safety screen's, never a keyword.
    assert found is None
    assert not is_reserved_word(text)


@fuzz_settings(100)
@given(spelled(sorted(OPT_OUT_KEYWORDS)), st.booleans())
def test_opt_out_keywords_opt_out_however_typed(spelling: tuple[str, str], opted_out: bool) -> None:
    _, typed = spelling
    assert classify(typed, opted_out=opted_out, in_assessment=False) == Command.OPT_OUT


@fuzz_settings(100)
@given(spelled(["CANCEL"]), st.booleans())
def test_cancel_during_an_assessment_is_never_an_opt_out(
    spelling: tuple[str, str], opted_out: bool
) -> None:
    _, typed = spelling
    assert classify(typed, opted_out=opted_out, in_assessment=True) is None


@fuzz_settings(100)
@given(spelled(sorted(OPT_IN_KEYWORDS | OPT_IN_WHILE_OPTED_OUT)), st.booleans())
def test_opt_in_words_opt_in_only_while_opted_out(
    spelling: tuple[str, str], in_assessment: bool
) -> None:
    _, typed = spelling
    assert classify(typed, opted_out=True, in_assessment=in_assessment) == Command.OPT_IN
    assert classify(typed, opted_out=False, in_assessment=in_assessment) is None


@fuzz_settings(100)
@given(spelled(sorted(HELP_KEYWORDS | set(CHECKIN_KEYWORDS))), st.booleans(), st.booleans())
def test_help_and_checkin_keywords_however_typed(
    spelling: tuple[str, str], opted_out: bool, in_assessment: bool
) -> None:
    keyword, typed = spelling
    expected = Command.HELP if keyword in HELP_KEYWORDS else CHECKIN_KEYWORDS[keyword]
    assert classify(typed, opted_out=opted_out, in_assessment=in_assessment) == expected
