"""Sender numbers: every input is a key or `InvalidPhoneNumber`, and a key is a fixed point."""

from __future__ import annotations

from typing import Annotated

import phonenumbers
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from shared.events.catalog import E164
from shared.phones import InvalidPhoneNumber, normalise_phone
from tests.support.fuzzing import fuzz_settings, hostile_text

_E164_CONTRACT = TypeAdapter(Annotated[str, E164])
_COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)

phone_like = (
    st.text(st.sampled_from("0123456789+-() ./"), max_size=24)
    | st.builds(
        lambda code, digits: f"+{code}{digits}",
        st.sampled_from(_COUNTRY_CODES),
        st.text(st.sampled_from("0123456789"), min_size=3, max_size=14),
    )
    | hostile_text
)


def _normalised(raw: str) -> str | None:
    try:
        return normalise_phone(raw)
    except InvalidPhoneNumber:
        return None


@fuzz_settings(150)
@given(phone_like)
def test_a_sender_is_a_key_that_reparses_to_itself_or_refused(raw: str) -> None:
    key = _normalised(raw)
    if key is not None:
        # Every event that names a phone (replies, opt-outs) accepts the key ...
        assert _E164_CONTRACT.validate_python(key) == key
        # ... and reading it again changes nothing (users are keyed by it).
        assert normalise_phone(key) == key


@fuzz_settings(100)
@given(
    st.from_regex(r"[2-9][0-9]{2}", fullmatch=True),
    st.from_regex(r"[2-9][0-9]{6}", fullmatch=True),
    st.sampled_from(
        ["{a}{n}", "1{a}{n}", "+1{a}{n}", "({a}) {x}-{y}", "1-{a}-{x}-{y}", " {a}.{x}.{y} "]
    ),
)
def test_every_spelling_of_a_us_number_is_one_key(area: str, number: str, spelling: str) -> None:
    raw = spelling.format(a=area, n=number, x=number[:3], y=number[3:])
    assert normalise_phone(raw) == f"+1{area}{number}"
