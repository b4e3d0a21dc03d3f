"""The in-memory side of the unit of work, shared by every service's fake.

A service's fake subclasses `FakeUnitOfWork` and adds in-memory repositories as attributes;
`run` gives the same all-or-nothing promise as `shared.unit_of_work.Transactions.run` (state is
restored when the body raises), and `emit` drops a second event with the same id, as the
outbox's upsert does. Contract tests run each repository against its fake and the real server.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any, Self, TypeVar

from shared.events import Envelope

_T = TypeVar("_T")


class FakeUnitOfWork:
    def __init__(self) -> None:
        self.emitted: list[Envelope[Any]] = []

    async def emit(self, event: Envelope[Any]) -> None:
        if all(seen.id != event.id for seen in self.emitted):
            self.emitted.append(event)

    async def run(self, body: Callable[[Self], Awaitable[_T]]) -> _T:
        """Run `body` as one transaction: on an exception nothing it wrote or emitted stays."""
        saved = copy.deepcopy(self.__dict__)
        try:
            return await body(self)
        except BaseException:
            self._restore(saved)
            raise

    def _restore(self, saved: dict[str, Any]) -> None:
        """Put the saved state back *into* the objects that hold it, so a repository someone
        kept a reference to before the rollback sees the rolled-back state too."""
        for name, value in saved.items():
            current = self.__dict__.get(name)
            if type(current) is type(value) and hasattr(current, "__dict__"):
                current.__dict__.clear()
                current.__dict__.update(value.__dict__)
            else:
                self.__dict__[name] = value

    def emitted_payloads(self, kind: type[_T]) -> list[_T]:
        return [e.payload for e in self.emitted if isinstance(e.payload, kind)]
