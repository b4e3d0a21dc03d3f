"""Event types → payload models, and the one place raw bytes become a typed envelope.

Decoding and validation happen here once, in the runtime, so a handler's signature is its
contract and a message that does not fit is rejected with a reason before any handler runs.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import ValidationError

from shared.events.envelope import Envelope, Payload


class InvalidEvent(Exception):
    """Bytes that are not a valid event of a known type; the message says why, without values."""


class UnknownEventType(InvalidEvent):
    pass


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: `*` is exactly one word, `#` is zero or more words."""
    return _match(pattern.split("."), routing_key.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head in ("*", words[0])) and _match(rest, words[1:])


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_input=False, include_url=False):
        location = ".".join(str(p) for p in item["loc"]) or "<root>"
        parts.append(f"{location}: {item['msg']}")
    return "; ".join(parts)


_P = TypeVar("_P", bound=type[Payload])


class EventRegistry:
    def __init__(self) -> None:
        self._models: dict[str, type[Payload]] = {}

    def register(self, model: _P) -> _P:
        """Class decorator: make `model.EVENT_TYPE` decodable."""
        event_type = model.EVENT_TYPE
        existing = self._models.get(event_type)
        if existing is not None and existing is not model:
            raise ValueError(f"event type {event_type!r} is already bound to {existing.__name__}")
        self._models[event_type] = model
        return model

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(sorted(self._models))

    def model_for(self, event_type: str) -> type[Payload]:
        model = self._models.get(event_type)
        if model is not None:
            return model
        for pattern, candidate in self._models.items():
            if topic_matches(pattern, event_type):
                return candidate
        raise UnknownEventType(f"unknown event type {event_type!r}")

    def decode(self, body: bytes) -> Envelope[Payload]:
        """Parse and validate one message body into a typed envelope."""
        try:
            raw: Any = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidEvent("body is not UTF-8 text") from None
        except json.JSONDecodeError as error:
            raise InvalidEvent(f"body is not JSON: {error.msg}") from None
        except ValueError:
            raise InvalidEvent("body is not JSON: a number has too many digits") from None
        except RecursionError:
            raise InvalidEvent("body is not JSON we can read: nested too deeply") from None
        if not isinstance(raw, dict):
            raise InvalidEvent("body is not a JSON object")
        try:
            envelope = Envelope[dict[str, Any]].model_validate(raw)
        except ValidationError as error:
            raise InvalidEvent(f"invalid envelope: {_describe(error)}") from None
        model = self.model_for(envelope.type)
        try:
            payload = model.model_validate(envelope.payload)
        except ValidationError as error:
            raise InvalidEvent(f"invalid {envelope.type} payload: {_describe(error)}") from None
        return Envelope[Payload].model_validate(
            {**envelope.model_dump(exclude={"payload"}), "payload": payload}
        )
