"""Child processes a benchmark runs and measures: CPU time from /proc, readiness over HTTP, and
the fake Twilio as a process of its own (so its work is not charged to the load generator)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import sys
from collections.abc import AsyncIterator, Mapping

import httpx

from bench.machine import process_cpu, process_stats
from services.devtools.fake_twilio import ACCOUNT_SID, AUTH_TOKEN
from shared.local_servers import free_port
from shared.local_servers._lifecycle import dies_with, watch_over_this_process


def cpu_snapshot(
    processes: Mapping[str, int], sessions: Mapping[str, int | None] | None = None
) -> dict[str, float]:
    """CPU seconds so far of named processes and of named server sessions, read together;
    subtract two snapshots for what a phase cost."""
    return {
        **{name: process_cpu(pid) for name, pid in processes.items()},
        **{name: session_cpu_seconds(session) for name, session in (sessions or {}).items()},
    }


def cpu_spent(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in before}


def session_cpu_seconds(session: int | None) -> float:
    """CPU time of every live process in a session (a server and the helpers it started, such
    as RabbitMQ's Erlang VM under its start script), with their reaped children; NaN for
    servers not started here."""
    if session is None:
        return math.nan
    return sum(
        stat.own_cpu + stat.reaped_children_cpu
        for stat in process_stats()
        if stat.session == session
    )


async def wait_http(url: str, *, attempts: int = 300) -> None:
    """Until `url` answers below 500 (polled every 0.1 s; a starting process imports a lot)."""
    async with httpx.AsyncClient() as http:
        for _ in range(attempts):
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(url)).status_code < 500:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


@contextlib.asynccontextmanager
async def child(*args: str, env: Mapping[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python <args>` for the duration of the block; SIGTERM and reaped on the way out, and
    ended with the benchmark however that ends (the kernel's SIGTERM, then our guardian)."""
    watch_over_this_process()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        env=dict(env),
        stdout=asyncio.subprocess.DEVNULL,
        preexec_fn=dies_with(os.getpid()),
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


@contextlib.asynccontextmanager
async def fake_twilio_process() -> AsyncIterator[str]:
    """The fake Twilio REST API as its own process (default credentials); its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}
    async with child("-m", "services.devtools.fake_twilio", "--port", str(port), env=env):
        await wait_http(f"{url}/_fake/creates")
        yield url


async def twilio_creates(fake_twilio_url: str) -> int:
    """How many Messages create calls the fake Twilio process has answered."""
    async with httpx.AsyncClient() as http:
        return len((await http.get(f"{fake_twilio_url}/_fake/creates")).json())
