"""A consumer queue, declared once, beside the handlers that consume it.

Each service names its queues and the events bound to them in its own `queues.py`; the
system's catalogue (`services/queues.py`) is derived from those declarations, and a consumer
refuses to start unless its handlers cover exactly its queue's events — so a binding without a
handler, or a handler nothing is bound to, fails at start-up and in the tests, not in production.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shared.events import Payload


@dataclass(frozen=True)
class ConsumerQueue:
    name: str
    events: tuple[type[Payload], ...]

    def __post_init__(self) -> None:
        if not self.events:
            raise ValueError(f"queue {self.name!r} receives no event")
        if len(set(self.bindings)) != len(self.events):
            raise ValueError(f"queue {self.name!r} binds an event type twice")

    @property
    def bindings(self) -> tuple[str, ...]:
        """The routing keys bound to the queue (an event type, or a topic pattern)."""
        return tuple(event.EVENT_TYPE for event in self.events)


def catalogue(queues: Iterable[ConsumerQueue]) -> Mapping[str, tuple[str, ...]]:
    """Queue name → bindings, refusing two declarations of one queue name."""
    found: dict[str, tuple[str, ...]] = {}
    for queue in queues:
        if queue.name in found:
            raise ValueError(f"queue {queue.name!r} is declared twice")
        found[queue.name] = queue.bindings
    return found
