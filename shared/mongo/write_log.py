"""Which service writes which collection, observed: with `MONGODB_WRITE_LOG` set, every write
command a process sends is appended to that file as `<service> <database> <collection>`.

For tests and audits of the rule that a service writes only its own database
(`tests/e2e/test_boundaries.py`); off unless configured. One short line per `os.write` on a file
opened for appending, so the processes of a run may share the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from pymongo import monitoring

_WRITE_COMMANDS: Final = frozenset({"insert", "update", "delete", "findAndModify"})


class WriteLog(monitoring.CommandListener):
    def __init__(self, path: Path, service: str) -> None:
        self._path = path
        self._service = service

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in _WRITE_COMMANDS:
            return
        collection = event.command.get(event.command_name)
        line = f"{self._service} {event.database_name} {collection}\n".encode()
        descriptor = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


def read_write_log(path: Path) -> set[tuple[str, str, str]]:
    """The distinct (service, database, collection) writes recorded in `path`."""
    if not path.exists():
        return set()
    entries: set[tuple[str, str, str]] = set()
    for line in path.read_text().splitlines():
        service, database, collection = line.split(" ", 2)
        entries.add((service, database, collection))
    return entries
