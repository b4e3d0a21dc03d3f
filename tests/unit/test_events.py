"""The envelope and the registry: ids, causation chains, decoding and its refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.events import (
    EventRegistry,
    InvalidEvent,
    Payload,
    UnknownEventType,
    deterministic_event_id,
    new_event,
    topic_matches,
)


class Ping(Payload):
    EVENT_TYPE = "test.ping"
    n: int


class StripeEvent(Payload):
    EVENT_TYPE = "billing.stripe.#"
    stripe_id: str


@pytest.fixture
def registry() -> EventRegistry:
    registry = EventRegistry()
    registry.register(Ping)
    registry.register(StripeEvent)
    return registry


def test_same_idempotency_key_gives_same_id() -> None:
    first = new_event(Ping(n=1), idempotency_key="reply:abc")
    again = new_event(Ping(n=1), idempotency_key="reply:abc")
    assert first.id == again.id == deterministic_event_id("test.ping", "reply:abc")
    assert first.idempotency_key == "reply:abc"


def test_events_without_key_are_unique_time_ordered_and_keyed_by_id() -> None:
    first, second = new_event(Ping(n=1)), new_event(Ping(n=1))
    assert first.id != second.id
    assert first.id.version == 7
    assert first.idempotency_key == str(first.id)
    assert first.correlation_id == str(first.id)


def test_caused_by_keeps_correlation_and_records_causation() -> None:
    parent = new_event(Ping(n=1), correlation_id="conversation-42")
    child = new_event(Ping(n=2), caused_by=parent, idempotency_key="child")
    assert child.correlation_id == "conversation-42"
    assert child.causation_id == str(parent.id)


def test_pattern_payload_needs_a_concrete_type() -> None:
    with pytest.raises(ValueError, match="concrete"):
        new_event(StripeEvent(stripe_id="evt_1"))
    event = new_event(StripeEvent(stripe_id="evt_1"), event_type="billing.stripe.invoice.paid")
    assert event.type == "billing.stripe.invoice.paid"


def test_decode_round_trip_gives_the_registered_model(registry: EventRegistry) -> None:
    sent = new_event(Ping(n=3), occurred_at=datetime(2026, 1, 1, tzinfo=UTC))
    decoded = registry.decode(sent.to_json())
    assert decoded == sent
    assert isinstance(decoded.payload, Ping)


def test_decode_matches_pattern_types(registry: EventRegistry) -> None:
    sent = new_event(StripeEvent(stripe_id="evt_9"), event_type="billing.stripe.invoice.paid")
    decoded = registry.decode(sent.to_json())
    assert isinstance(decoded.payload, StripeEvent)


def test_unknown_fields_from_newer_producers_are_tolerated(registry: EventRegistry) -> None:
    raw = json.loads(new_event(Ping(n=3)).to_json())
    raw["new_envelope_field"] = True
    raw["payload"]["new_payload_field"] = "x"
    decoded = registry.decode(json.dumps(raw).encode())
    assert decoded.payload == Ping(n=3)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"type": "test.ping"}', "invalid envelope: id: Field required"),
    ],
)
def test_decode_refuses_garbage_with_a_reason(
    registry: EventRegistry, body: bytes, reason: str
) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        registry.decode(body)


def test_decode_refuses_invalid_payload_without_echoing_values(registry: EventRegistry) -> None:
    raw = json.loads(new_event(Ping(n=3)).to_json())
    raw["payload"]["n"] = "call me at +15551234567"
    with pytest.raises(InvalidEvent) as caught:
        registry.decode(json.dumps(raw).encode())
    assert "n: Input should be a valid integer" in str(caught.value)
    assert "5551234567" not in str(caught.value)


def test_decode_refuses_unknown_types(registry: EventRegistry) -> None:
    raw = json.loads(new_event(Ping(n=3)).to_json())
    raw["type"] = "test.unknown"
    with pytest.raises(UnknownEventType):
        registry.decode(json.dumps(raw).encode())


def test_a_type_can_be_registered_only_once() -> None:
    registry = EventRegistry()
    registry.register(Ping)
    registry.register(Ping)

    class OtherPing(Payload):
        EVENT_TYPE = "test.ping"

    with pytest.raises(ValueError, match="already bound"):
        registry.register(OtherPing)


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("a.b", "a.b", True),
        ("a.*", "a.b", True),
        ("a.*", "a.b.c", False),
        ("a.#", "a", True),
        ("a.#", "a.b.c", True),
        ("#", "anything.at.all", True),
        ("a.*.c", "a.b.c", True),
        ("a.*.c", "a.c", False),
        ("billing.stripe.#", "billing.stripe.invoice.paid", True),
        ("billing.stripe.*", "billing.stripe.invoice.paid", False),
        ("a.#.z", "a.z", True),
        ("a.#.z", "a.b.c.z", True),
    ],
)
def test_topic_matching_follows_amqp(pattern: str, key: str, matches: bool) -> None:
    assert topic_matches(pattern, key) is matches
