"""Events: the envelope, payload base class and the registry that decodes them."""

from shared.events.envelope import Envelope, Payload, deterministic_event_id, new_event
from shared.events.registry import EventRegistry, InvalidEvent, UnknownEventType, topic_matches

__all__ = [
    "Envelope",
    "EventRegistry",
    "InvalidEvent",
    "Payload",
    "UnknownEventType",
    "deterministic_event_id",
    "new_event",
    "topic_matches",
]
