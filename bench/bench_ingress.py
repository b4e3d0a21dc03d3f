"""Ingress under signed Twilio webhooks at fixed offered rates: requests/s, latency, CPU/request.

Open-loop load (requests leave on a schedule, latency counts from the scheduled moment, so a slow
server cannot hide queueing), against `python -m services.ingress` as a real process with a real
broker and database. Each request is a distinct, correctly signed inbound SMS. CPU is the ingress
process's user+system time (from /proc) divided by the requests it answered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import httpx

from bench.report import print_table, write_result
from bench.servers import broker_and_database
from services.devtools.signing import twilio_signature
from shared.broker import connect
from shared.config import BrokerSettings
from shared.local_servers import free_port

TOKEN = "bench-twilio-token"
_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


@contextlib.asynccontextmanager
async def _ingress(
    rabbitmq_url: str, mongodb_url: str, prefix: str
) -> AsyncIterator[tuple[str, int]]:
    port = free_port()
    env = {
        **os.environ,
        "RABBITMQ_URL": rabbitmq_url,
        "RABBITMQ_QUEUE_PREFIX": prefix,
        "MONGODB_URL": mongodb_url,
        "MONGODB_DB_INGRESS": f"bench_ingress_{prefix.strip('.')}",
        "TWILIO_AUTH_TOKEN": TOKEN,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "INGRESS_PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "json",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.ingress", env=env, stdout=asyncio.subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("ingress did not become ready")
        yield base, process.pid
    finally:
        process.terminate()
        await process.wait()


def _request(base: str, n: int, run: str) -> tuple[bytes, dict[str, str]]:
    form = {
        "MessageSid": f"SM{run}{n:020d}",
        "From": "+15551230000",
        "To": "+15559870000",
        "Body": "benchmark message",
        "NumMedia": "0",
    }
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": twilio_signature(TOKEN, f"{base}/webhooks/twilio/sms", form),
    }
    return urlencode(form).encode(), headers


async def _phase(
    http: httpx.AsyncClient, base: str, pid: int, rate: int, seconds: float
) -> dict[str, object]:
    run = uuid.uuid4().hex[:12]
    total = int(rate * seconds)
    requests = [_request(base, n, run) for n in range(total)]
    latencies: list[float] = []
    errors = 0
    cpu_before = _cpu_seconds(pid)
    start = time.perf_counter()

    async def one(n: int) -> None:
        nonlocal errors
        scheduled = start + n / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        body, headers = requests[n]
        try:
            response = await http.post("/webhooks/twilio/sms", content=body, headers=headers)
            ok = response.status_code == 200
        except httpx.HTTPError:
            ok = False
        latencies.append(time.perf_counter() - scheduled)
        errors += 0 if ok else 1

    await asyncio.gather(*(one(n) for n in range(total)))
    elapsed = time.perf_counter() - start
    cpu = _cpu_seconds(pid) - cpu_before
    ordered = sorted(latencies)
    return {
        "offered_rps": rate,
        "achieved_rps": round(total / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 2),
        "errors": errors,
        "cpu_us_per_req": round(cpu / total * 1e6, 1),
    }


async def _main(rates: list[int], seconds: float) -> None:
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    with broker_and_database() as (rabbitmq_url, mongodb_url):
        async with _ingress(rabbitmq_url, mongodb_url, prefix) as (base, pid):
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
            async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
                await _phase(http, base, pid, 20, 1.0)  # warm-up
                rows = [await _phase(http, base, pid, rate, seconds) for rate in rates]
        connection = await connect(BrokerSettings(url=rabbitmq_url), name="bench-cleanup")
        channel = await connection.channel()
        await channel.queue_delete(f"{prefix}sms_worker.inbound")
        await connection.close()
    print_table("ingress: signed Twilio SMS webhooks, open-loop", rows)
    write_result("ingress", rows, seconds_per_rate=seconds, workers=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--rates", default="25,50,100,200", help="offered requests/s, comma-separated"
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each rate")
    args = parser.parse_args()
    asyncio.run(_main([int(r) for r in args.rates.split(",")], args.seconds))


if __name__ == "__main__":
    main()
