"""Ingress against the original inline design, under signed Twilio webhooks at fixed offered rates.

Two targets, each a real process with its own database, given the same requests at the same
rates:
* `ingress` (`python -m services.ingress`): verify, store once, publish with confirms, answer;
  the SMS worker does the work later, from the queue.
* `inline baseline` (`python -m bench.baselines.inline_ingress`): verify, then the whole inbound
  rule set with its database writes and the Twilio call (a fake Twilio process), then answer.

The load is open-loop (`bench.load`): a pool of caregivers texting the onboarding script in
turn, each request a distinct, correctly signed inbound SMS. Requests/s counts answers over the
time from the first departure to the last answer; CPU is the target process's user+system time
(/proc) divided by the requests of the phase.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from bench.load import (
    CAREGIVER_SCRIPT,
    OUR_NUMBER,
    SignedSms,
    caregiver_phone,
    milliseconds,
    open_loop,
    percentile,
    signed_sms,
)
from bench.processes import cpu_snapshot, cpu_spent, fake_twilio_process, twilio_creates
from bench.report import print_table, write_result
from bench.servers import DatabaseOperations, Servers, describe_database, drop_queues, servers
from bench.sizes import sized
from services.devtools.fake_twilio import ACCOUNT_SID, AUTH_TOKEN
from shared.config import BrokerSettings, MongoSettings
from shared.mongo import create_client
from tests.support.processes import ServiceProcess

TARGETS = {"ingress": "services.ingress", "inline baseline": "bench.baselines.inline_ingress"}
_POOL = 1_000
_WARM_UP_RATE, _WARM_UP_SECONDS = 20, 1.0


class Caregivers:
    """The pool texting a target: request n comes from caregiver n % pool, who sends the next
    line of the script each time round, so a caregiver's messages are far apart."""

    def __init__(self, base_url: str, run: int) -> None:
        self._base_url = base_url
        self._run = run
        self._sent = itertools.count()
        self._sid = uuid.uuid4().hex[:16]

    def take(self, count: int) -> list[SignedSms]:
        return [self._next() for _ in range(count)]

    def _next(self) -> SignedSms:
        n = next(self._sent)
        line = CAREGIVER_SCRIPT[min(n // _POOL, len(CAREGIVER_SCRIPT) - 1)]
        return signed_sms(
            self._base_url,
            AUTH_TOKEN,
            message_sid=f"SM{self._sid}{n:016d}",
            from_number=caregiver_phone(self._run, n % _POOL),
            body=line,
        )


@dataclass(frozen=True)
class _Run:
    """One target under load: what each of its phases needs."""

    target: str
    pid: int
    http: httpx.AsyncClient
    caregivers: Caregivers
    found: Servers
    twilio_url: str
    operations: DatabaseOperations


async def _phase(run: _Run, rate: int, seconds: float) -> dict[str, Any]:
    requests = run.caregivers.take(max(1, int(rate * seconds)))
    sessions = {"broker": run.found.broker_session, "database": run.found.database_session}
    # The load generator (this process) is measured too: if it uses most of a core, the rate
    # it could offer, not the target, is what limits the phase.
    processes = {"target": run.pid, "load generator": os.getpid()}
    creates_before = await twilio_creates(run.twilio_url)
    operations_before = sum((await run.operations.read()).values())
    cpu_before = cpu_snapshot(processes, sessions)
    started = time.perf_counter()
    outcomes = await open_loop(run.http, requests, rate)
    elapsed = time.perf_counter() - started
    spent = cpu_spent(cpu_before, cpu_snapshot(processes, sessions))
    operations = sum((await run.operations.read()).values()) - operations_before
    cpu = {k: v / len(requests) * 1e6 for k, v in spent.items()}
    answered = [o for o in outcomes if o.status == 200]
    latencies = [o.latency for o in outcomes]
    return {
        "target": run.target,
        "offered_rps": rate,
        "requests": len(requests),
        "achieved_rps": round(len(answered) / elapsed, 1),
        "p50_ms": milliseconds(percentile(latencies, 0.50)),
        "p99_ms": milliseconds(percentile(latencies, 0.99)),
        "errors": len(outcomes) - len(answered),
        "cpu_us_per_req": round(cpu["target"], 1),
        "broker_cpu_us_per_req": round(cpu["broker"], 1),
        "db_cpu_us_per_req": round(cpu["database"], 1),
        "db_ops_per_req": round(operations / len(requests), 2),
        "twilio_calls": await twilio_creates(run.twilio_url) - creates_before,
        "load_generator_cores": round(spent["load generator"] / elapsed, 2),
    }


def _environment(
    rabbitmq_url: str, mongodb_url: str, prefix: str, twilio_url: str
) -> dict[str, str]:
    database = f"bench_ingress_{prefix.strip('.')}"
    return {
        **os.environ,
        "RABBITMQ_URL": rabbitmq_url,
        "RABBITMQ_QUEUE_PREFIX": prefix,
        "MONGODB_URL": mongodb_url,
        "MONGODB_DB_INGRESS": database,
        "MONGODB_DB_SMS_WORKER": database,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": OUR_NUMBER,
        "TWILIO_API_BASE_URL": twilio_url,
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "json",
    }


async def _target(
    target: str,
    run: int,
    found: Servers,
    twilio_url: str,
    rates: list[int],
    seconds: float,
) -> list[dict[str, Any]]:
    rabbitmq_url, mongodb_url = found.rabbitmq_url, found.mongodb_url
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    env = _environment(rabbitmq_url, mongodb_url, prefix, twilio_url)
    rows = []
    async with ServiceProcess(
        TARGETS[target], env, port_variable="INGRESS_PORT", ready_timeout=90
    ) as process:
        assert process.pid is not None
        base = f"http://127.0.0.1:{process.ops_port}"
        limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
        operations = DatabaseOperations(mongodb_url)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
            under_load = _Run(
                target,
                process.pid,
                http,
                Caregivers(base, run),
                found,
                twilio_url,
                operations,
            )
            await _phase(under_load, _WARM_UP_RATE, _WARM_UP_SECONDS)
            for rate in rates:
                rows.append(await _phase(under_load, rate, seconds))
        await operations.close()
        await process.stop()
    await drop_queues(BrokerSettings(url=rabbitmq_url, queue_prefix=prefix))
    client = create_client(MongoSettings(url=mongodb_url))
    await client.drop_database(env["MONGODB_DB_INGRESS"])
    await client.close()
    return rows


def _ratio(numerator: float, denominator: float) -> float:
    if not denominator or math.isnan(numerator) or math.isnan(denominator):
        return math.nan
    return round(numerator / denominator, 2)


def _with_servers(row: dict[str, Any]) -> float:
    """The request's CPU in the target, the broker and the database together."""
    return float(row["cpu_us_per_req"] + row["broker_cpu_us_per_req"] + row["db_cpu_us_per_req"])


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per offered rate, how the baseline compares with ingress (above 1: ingress is better)."""
    by_rate: dict[int, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_rate.setdefault(row["offered_rps"], {})[row["target"]] = row
    table = []
    for rate, pair in by_rate.items():
        ingress, baseline = pair.get("ingress"), pair.get("inline baseline")
        if ingress is None or baseline is None:
            continue
        table.append(
            {
                "offered_rps": rate,
                "throughput x": _ratio(ingress["achieved_rps"], baseline["achieved_rps"]),
                "p50 baseline/ingress": _ratio(baseline["p50_ms"], ingress["p50_ms"]),
                "p99 baseline/ingress": _ratio(baseline["p99_ms"], ingress["p99_ms"]),
                "cpu baseline/ingress": _ratio(
                    baseline["cpu_us_per_req"], ingress["cpu_us_per_req"]
                ),
                "cpu with servers baseline/ingress": _ratio(
                    _with_servers(baseline), _with_servers(ingress)
                ),
            }
        )
    return table


async def _main(targets: list[str], rates: list[int], seconds: float) -> None:
    rows: list[dict[str, Any]] = []
    with servers() as found:
        database = describe_database(found.mongodb_url)
        async with fake_twilio_process() as twilio_url:
            for run, target in enumerate(targets):
                rows += await _target(target, run, found, twilio_url, rates, seconds)
    print_table("ingress vs inline baseline: signed Twilio SMS webhooks, open loop", rows)
    compared = ratios(rows)
    print_table("ratios (above 1: ingress better)", compared)
    write_result(
        "ingress",
        rows,
        ratios=compared,
        seconds_per_rate=seconds,
        caregivers=_POOL,
        database=database,
        workers=1,
    )


def _targets(text: str) -> list[str]:
    chosen = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in chosen if t not in TARGETS]
    if unknown:
        raise SystemExit(f"unknown targets {unknown}; choose from {sorted(TARGETS)}")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--rates",
        default=sized("25,50,100,200", "25,100"),
        help="offered requests/s, comma-separated",
    )
    parser.add_argument(
        "--seconds", type=float, default=sized(5.0, 2.0), help="duration of each rate"
    )
    parser.add_argument(
        "--targets", default=",".join(TARGETS), help="ingress and/or 'inline baseline'"
    )
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    asyncio.run(_main(_targets(args.targets), rates, args.seconds))


if __name__ == "__main__":
    main()
