"""Soak: the whole system under a steady stream for `SOAK_SECONDS` (30 minutes in `make soak`,
one minute in `make test`), with the resident memory of every process sampled. It passes when
every accepted webhook got exactly one reply and no process's memory grows: the trend fitted
over the run's second half (after warm-up) must add less than `SOAK_MAX_GROWTH_MB` over a whole
run. Samples and the fitted trends are written to `.local/soak/` for the report."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
from pathlib import Path

import pytest

from tests.support.provider_stream import ProviderStream, assert_exactly_one_reply_each
from tests.support.system import System, running_system

pytestmark = pytest.mark.soak

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
SOAK_RATE = float(os.environ.get("SOAK_RATE", "4"))
SAMPLE_EVERY = max(1.0, SOAK_SECONDS / 120)
# Allowed growth over one whole run, per process, from the fitted trend.
MAX_GROWTH_MB = float(os.environ.get("SOAK_MAX_GROWTH_MB", "20"))
RESULTS = Path(os.environ.get("SOAK_RESULTS_DIR", ".local/soak"))


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def _slope_per_second(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB)."""
    times = [t for t, _ in samples]
    values = [v for _, v in samples]
    slope, _ = statistics.linear_regression(times, values)
    return slope


async def test_steady_stream_keeps_every_promise_and_memory_flat(
    rabbitmq_url: str, mongodb_url: str
) -> None:
    async with running_system(rabbitmq_url, mongodb_url) as system:
        samples = await _soak(system)
    growth = {
        name: _slope_per_second(series[len(series) // 2 :]) * SOAK_SECONDS
        for name, series in samples.items()
    }
    _write_results(samples, growth)
    grown = {name: round(mb, 1) for name, mb in growth.items() if mb > MAX_GROWTH_MB}
    assert not grown, f"memory grew by more than {MAX_GROWTH_MB} MB over the run: {grown}"


def _write_results(samples: dict[str, list[tuple[float, float]]], growth: dict[str, float]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    document = {
        "seconds": SOAK_SECONDS,
        "rate_per_second": SOAK_RATE,
        "samples": samples,
        "growth_mb_per_run": growth,
    }
    (RESULTS / "soak.json").write_text(json.dumps(document, indent=2))


async def _soak(system: System) -> dict[str, list[tuple[float, float]]]:
    stream = ProviderStream(system, rate_per_second=SOAK_RATE)
    pids = {name: process.pid for name, process in system.processes.items()}
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with stream.running():
        while (elapsed := loop.time() - started) < SOAK_SECONDS:
            for name, pid in pids.items():
                assert pid is not None
                samples[name].append((elapsed, _rss_mb(pid)))
            await asyncio.sleep(SAMPLE_EVERY)
    await assert_exactly_one_reply_each(system, stream.accepted)
    return samples
