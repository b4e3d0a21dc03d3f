"""Decoding events off the broker: any bytes are a valid event of a known type or
`InvalidEvent` (which parks the message), and the refusal never repeats what the message said."""

from __future__ import annotations

import json
import uuid

from hypothesis import given
from hypothesis import strategies as st

from shared.events import InvalidEvent
from shared.events.catalog import EVENTS
from tests.support.fuzzing import fuzz_settings, json_values, mostly, result_or

# A value a message might carry that must never reach a log through an error message.
SECRET_DIGITS = "5550001234"
CONCRETE_TYPES = [
    event_type.replace("#", "invoice.paid").replace("*", "x") for event_type in EVENTS.types
]
payload_values = json_values | st.just(f"+1{SECRET_DIGITS}")
envelopes = st.fixed_dictionaries(
    {
        "id": mostly(st.uuids().map(str), json_values),
        "type": mostly(st.sampled_from(CONCRETE_TYPES), json_values),
        "occurred_at": mostly(st.just("2026-03-02T15:00:00+00:00"), json_values),
        "correlation_id": mostly(st.just("c-1"), json_values),
        "idempotency_key": mostly(st.just("k-1"), json_values),
        "payload": mostly(st.dictionaries(st.text(max_size=20), payload_values), json_values),
    },
    optional={"version": json_values, "causation_id": json_values, "extra": json_values},
)
bodies = (
    envelopes.map(lambda envelope: json.dumps(envelope).encode())
    | st.binary(max_size=100)
    | st.integers(1_000, 1_500).map(lambda depth: b"[" * depth + b"]" * depth)
    | st.integers(4_300, 4_400).map(lambda digits: b'{"id": ' + b"7" * digits + b"}")
)


@fuzz_settings(120)
@given(bodies)
def test_any_body_is_a_typed_event_or_invalid_without_its_values(body: bytes) -> None:
    event = result_or(InvalidEvent, lambda: EVENTS.decode(body))
    if isinstance(event, InvalidEvent):
        assert SECRET_DIGITS not in str(event)
    else:
        assert isinstance(event.id, uuid.UUID)
        assert isinstance(event.payload, EVENTS.model_for(event.type))
