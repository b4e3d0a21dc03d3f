"""Reading odd legacy values: every reader returns the typed value or None, never raises."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.migrations import legacy_values as lv

_ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=8,
)


@given(_ANY_JSON)
def test_no_reader_raises(value: Any) -> None:
    lv.text(value)
    lv.number(value)
    lv.integer(value, minimum=0, maximum=7)
    lv.flag(value)
    lv.timestamp(value)
    lv.snake_key(value)
    lv.json_value(value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1_750_000_000_000, datetime(2025, 6, 15, 15, 6, 40, tzinfo=UTC)),
        (1_750_000_000, datetime(2025, 6, 15, 15, 6, 40, tzinfo=UTC)),
        ("1750000000000", datetime(2025, 6, 15, 15, 6, 40, tzinfo=UTC)),
        ("2025-06-15T15:06:40Z", datetime(2025, 6, 15, 15, 6, 40, tzinfo=UTC)),
        ("2025-06-15T15:06:40", datetime(2025, 6, 15, 15, 6, 40, tzinfo=UTC)),
        ("yesterday", None),
        (math.nan, None),
        (-5, None),
        (None, None),
    ],
)
def test_timestamps_in_every_legacy_form(raw: Any, expected: datetime | None) -> None:
    assert lv.timestamp(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(42.5, 42.5), ("42.5", 42.5), (" 7 ", 7.0), (math.nan, None), ("NaN", None), ("abc", None),
     (True, None), (math.inf, None)],
)  # fmt: skip
def test_numbers(raw: Any, expected: float | None) -> None:
    assert lv.number(raw) == expected


def test_integers_are_clamped_and_refuse_fractions() -> None:
    assert lv.integer("9", minimum=0, maximum=7) == 7
    assert lv.integer(-2, minimum=0) == 0
    assert lv.integer(2.5) is None
    assert lv.integer("3.0") == 3


def test_keys_from_labels_camel_case_and_dashes() -> None:
    assert lv.snake_key("Physical Health") == "physical_health"
    assert lv.snake_key("emotionalWellbeing") == "emotional_wellbeing"
    assert lv.snake_key("time-management") == "time_management"
    assert lv.snake_key("   ") is None


def test_stringified_json_is_parsed_and_broken_json_kept_as_text() -> None:
    assert lv.json_value('{"zip": "10001"}') == ({"zip": "10001"}, True)
    assert lv.json_value('{"zip": ') == ('{"zip": ', False)
    assert lv.json_value({"already": "native"}) == ({"already": "native"}, True)
