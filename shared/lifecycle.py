"""Process lifecycle shared by the services: turn SIGTERM/SIGINT into an orderly shutdown."""

from __future__ import annotations

import asyncio
import signal


def shutdown_event() -> asyncio.Event:
    """An event set on the first SIGTERM or SIGINT; a second one falls back to the default."""
    loop = asyncio.get_running_loop()
    event = asyncio.Event()

    def _on_signal(signum: int) -> None:
        event.set()
        loop.remove_signal_handler(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _on_signal, signum)
    return event
