"""Bounded waiting for asynchronous outcomes: tests poll for a condition instead of sleeping."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 15.0, interval: float = 0.05
) -> T:
    """Return the first truthy result of `probe`; fail the test if none arrives in `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def sigkill_when(
    process: asyncio.subprocess.Process,
    probe: Callable[[], Awaitable[object]],
    *,
    timeout: float = 60.0,
) -> None:
    """SIGKILL `process` as soon as `probe` holds (a crash at a moment the test chose); the
    process is killed and reaped even when the condition never comes."""
    try:
        await eventually(probe, timeout=timeout)
        process.send_signal(signal.SIGKILL)
        await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
