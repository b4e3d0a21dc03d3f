"""End to end: from an inbound SMS webhook to the Twilio API call that answers it.

Every service runs as a real process (`python -m ...`, as `make run` starts them) against a real
broker and database, and the fake Twilio runs here, timestamping each Messages create as it
arrives. Caregivers text at a fixed rate, open loop (`bench.load`); a message's latency runs from
its scheduled departure to the arrival of its reply's create call at the fake. Two phases: new
caregivers' first SMS, then each one's onboarding answer (one reply each).

The inline baseline (`bench.baselines.inline_ingress`) runs the same phases: it calls Twilio
inside the request, so its reply leaves before its webhook is answered. CPU per message sums
every process of a target (the services, or the baseline) and, for local servers, the broker
and the database, less what each of them spends idle (pollers, ticks, heartbeats: measured for
a few seconds with no traffic before the phases).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import math
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bench.load import (
    CAREGIVER_SCRIPT,
    OUR_NUMBER,
    Outcome,
    SignedSms,
    caregiver_phone,
    milliseconds,
    open_loop,
    percentile,
    signed_sms,
)
from bench.processes import cpu_snapshot, cpu_spent
from bench.report import print_table, write_result
from bench.servers import DatabaseOperations, Servers, describe_database, drop_queues, servers
from bench.sizes import sized
from services.devtools.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from services.devtools.loopback import LoopbackServer
from services.devtools.system import SERVICES
from shared.config import BrokerSettings, MongoSettings
from shared.mongo import create_client
from tests.support.processes import ServiceProcess, service_process, system_environment

PHASES = (("first SMS", CAREGIVER_SCRIPT[0]), ("onboarding answer", CAREGIVER_SCRIPT[1]))
TARGETS = ("system", "inline baseline")
_WARM_UP = 10
_STARTUP_SECONDS = 120.0
_IDLE_SECONDS = sized(5.0, 2.0)


class CreateArrivals:
    """The fake Twilio's ASGI app, wrapped to note when each Messages create arrived and for
    whom (perf_counter, by `To`), before the fake answers it."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self.by_recipient: defaultdict[str, list[float]] = defaultdict(list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/Messages.json"):
            await self._app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await self._app(scope, receive, send)
            return
        arrived = time.perf_counter()
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        recipient = dict(parse_qsl(body.decode())).get("To", "")
        self.by_recipient[recipient].append(arrived)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self._app(scope, replay, send)

    def first_after(self, recipient: str, moment: float) -> float | None:
        arrivals = self.by_recipient.get(recipient, [])
        index = bisect.bisect_left(arrivals, moment)
        return arrivals[index] if index < len(arrivals) else None


@dataclass
class Target:
    """A running target: where its webhooks go and the processes whose CPU it costs."""

    base_url: str
    pids: dict[str, int]


def _environment(found: Servers, run: str, twilio_url: str) -> dict[str, str]:
    broker = BrokerSettings(
        url=found.rabbitmq_url, exchange=f"bench.{run}", queue_prefix=f"b{run}."
    )
    return system_environment(
        broker,
        found.mongodb_url,
        db_prefix=f"bench_e2e_{run}",
        # The baseline is the SMS worker's rules in another process: same database name.
        MONGODB_DB_SMS_WORKER=f"bench_e2e_{run}_sms_worker",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_FROM_NUMBER=OUR_NUMBER,
        TWILIO_API_BASE_URL=twilio_url,
        STRIPE_WEBHOOK_SECRET=f"whsec_bench_{run}",
        LOG_LEVEL="WARNING",
    )


@contextlib.asynccontextmanager
async def _running(target: str, env: dict[str, str]) -> AsyncIterator[Target]:
    processes: dict[str, ServiceProcess] = {}
    if target == "system":
        for spec in SERVICES:
            processes[spec.name] = service_process(spec.name, env, ready_timeout=_STARTUP_SECONDS)
    else:
        processes[target] = ServiceProcess(
            "bench.baselines.inline_ingress",
            env,
            port_variable="INGRESS_PORT",
            ready_timeout=_STARTUP_SECONDS,
        )
    async with contextlib.AsyncExitStack() as stack:
        # Started together: their start-up is mostly imports and waiting.
        started = await asyncio.gather(
            *(stack.enter_async_context(p) for p in processes.values()), return_exceptions=True
        )
        failures = [error for error in started if isinstance(error, BaseException)]
        if failures:
            raise failures[0]
        entry = processes.get("ingress", processes.get(target))
        assert entry is not None
        pids = {name: p.pid for name, p in processes.items() if p.pid is not None}
        yield Target(f"http://127.0.0.1:{entry.ops_port}", pids)
        await asyncio.gather(*(p.stop() for p in processes.values()))


async def _replies(
    arrivals: CreateArrivals,
    requests: Sequence[SignedSms],
    outcomes: Sequence[Outcome],
    timeout: float,
) -> list[float | None]:
    """Each message's end-to-end latency, once every reply arrived or `timeout` passed."""
    deadline = time.monotonic() + timeout
    while True:
        found = [
            arrivals.first_after(request.from_number, outcome.scheduled)
            for request, outcome in zip(requests, outcomes, strict=True)
        ]
        if all(f is not None for f in found) or time.monotonic() > deadline:
            return [
                None if f is None else f - outcome.scheduled
                for f, outcome in zip(found, outcomes, strict=True)
            ]
        await asyncio.sleep(0.05)


_OPERATION = "db ops:"


@dataclass
class Meters:
    """What a phase costs, read all at once: CPU seconds of each process of the target and of
    the two servers, and the database server's operation counters (`db ops:<kind>`)."""

    target: Target
    sessions: dict[str, int | None]
    operations: DatabaseOperations

    async def read(self) -> dict[str, float]:
        counters = await self.operations.read()
        return {
            **cpu_snapshot(self.target.pids, self.sessions),
            **{f"{_OPERATION}{kind}": float(count) for kind, count in counters.items()},
        }


async def _idle_rates(meters: Meters, seconds: float) -> dict[str, float]:
    """What each process and server spends per second with no traffic (pollers, ticks,
    heartbeats), so that messages are charged only with what they cost."""
    before = await meters.read()
    await asyncio.sleep(seconds)
    spent = cpu_spent(before, await meters.read())
    return {name: value / seconds for name, value in spent.items()}


async def _phase(
    name: str,
    text: str,
    phones: Sequence[str],
    *,
    http: httpx.AsyncClient,
    target: Target,
    arrivals: CreateArrivals,
    meters: Meters,
    idle: Mapping[str, float],
    rate: float,
    timeout: float,
) -> dict[str, Any]:
    requests = [
        signed_sms(
            target.base_url,
            AUTH_TOKEN,
            message_sid=f"SM{uuid.uuid4().hex}",
            from_number=phone,
            body=text,
        )
        for phone in phones
    ]
    before, started = await meters.read(), time.monotonic()
    outcomes = await open_loop(http, requests, rate)
    latencies = await _replies(arrivals, requests, outcomes, timeout)
    spent = cpu_spent(before, await meters.read())
    elapsed = time.monotonic() - started
    delivered = [latency for latency in latencies if latency is not None]
    count = len(requests)
    operations = [name for name in spent if name.startswith(_OPERATION)]

    def per_message(names: Sequence[str], scale: float = 1e6) -> float:
        """Per message (CPU in µs), less what the same processes spend idle in as long (at
        least zero: the idle rate is an estimate over a few seconds, and a quiet process's busy
        time can come out below it)."""
        net = [spent[name] - idle.get(name, 0.0) * elapsed for name in names]
        if any(math.isnan(value) for value in net):
            return math.nan  # a server this benchmark did not start: not measured
        return round(sum(max(0.0, value) for value in net) / count * scale, 1 if scale > 1 else 2)

    return {
        "phase": name,
        "offered_rps": rate,
        "messages": count,
        "accepted": sum(1 for o in outcomes if o.status == 200),
        "replied": len(delivered),
        "webhook_p50_ms": milliseconds(percentile([o.latency for o in outcomes], 0.50)),
        "p50_ms": milliseconds(percentile(delivered, 0.50)),
        "p95_ms": milliseconds(percentile(delivered, 0.95)),
        "p99_ms": milliseconds(percentile(delivered, 0.99)),
        "max_ms": milliseconds(max(delivered, default=float("nan"))),
        "processes_cpu_us_per_msg": per_message(list(target.pids)),
        "broker_cpu_us_per_msg": per_message(["broker"]),
        "db_cpu_us_per_msg": per_message(["database"]),
        "db_ops_per_msg": per_message(operations, scale=1),
        "cpu_by_process": {name: per_message([name]) for name in [*target.pids, *meters.sessions]},
        "db_ops_by_kind": {
            name.removeprefix(_OPERATION): per_message([name], scale=1) for name in operations
        },
        "latencies_ms": sorted(milliseconds(latency) for latency in delivered),
    }


async def _run_phases(
    target_name: str,
    run: int,
    meters: Meters,
    arrivals: CreateArrivals,
    rate: float,
    seconds: float,
    timeout: float,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Warm up, measure idle, then every phase; the phase rows and the idle row."""
    target = meters.target
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=target.base_url, limits=limits, timeout=60) as http:
        common: dict[str, Any] = {
            "http": http,
            "target": target,
            "arrivals": arrivals,
            "meters": meters,
            "timeout": timeout,
        }
        warm_up = [caregiver_phone(run, 90_000 + n) for n in range(_WARM_UP)]
        await _phase("warm-up", PHASES[0][1], warm_up, idle={}, rate=5, **common)
        idle = await _idle_rates(meters, _IDLE_SECONDS)
        phones = [caregiver_phone(run, n) for n in range(max(1, int(rate * seconds)))]
        rows = [
            {
                "target": target_name,
                **await _phase(name, text, phones, idle=idle, rate=rate, **common),
            }
            for name, text in PHASES
        ]
    idle_row = {
        "target": target_name,
        "processes_idle_cores": round(sum(idle[name] for name in target.pids), 3),
        "broker_idle_cores": round(idle["broker"], 3),
        "db_idle_cores": round(idle["database"], 3),
        "db_idle_ops_per_s": round(sum(v for k, v in idle.items() if k.startswith(_OPERATION)), 1),
    }
    return rows, idle_row


async def _measure(
    target_name: str,
    run: int,
    found: Servers,
    rate: float,
    seconds: float,
    timeout: float,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    tag = uuid.uuid4().hex[:10]
    arrivals = CreateArrivals(FakeTwilio().app())
    operations = DatabaseOperations(found.mongodb_url)
    sessions = {"broker": found.broker_session, "database": found.database_session}
    try:
        async with LoopbackServer(arrivals) as fake:
            env = _environment(found, tag, fake.url)
            async with _running(target_name, env) as target:
                meters = Meters(target, sessions, operations)
                measured = await _run_phases(
                    target_name, run, meters, arrivals, rate, seconds, timeout
                )
    finally:
        await operations.close()
    await drop_queues(BrokerSettings(url=found.rabbitmq_url, queue_prefix=f"b{tag}."))
    client = create_client(MongoSettings(url=found.mongodb_url))
    for database in await client.list_database_names():
        if database.startswith(f"bench_e2e_{tag}"):
            await client.drop_database(database)
    await client.close()
    return measured


_DETAIL = frozenset({"latencies_ms", "cpu_by_process", "db_ops_by_kind"})


def _summary(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in _DETAIL} for row in rows]


def _detail(rows: Sequence[Mapping[str, Any]], key: str) -> list[dict[str, Any]]:
    """One breakdown (`cpu_by_process`, `db_ops_by_kind`), a row per target and phase."""
    return [{"target": row["target"], "phase": row["phase"], **row[key]} for row in rows]


async def _main(targets: Sequence[str], rate: float, seconds: float, timeout: float) -> None:
    rows: list[dict[str, Any]] = []
    idle: list[dict[str, Any]] = []
    with servers() as found:
        database = describe_database(found.mongodb_url)
        for run, target in enumerate(targets):
            measured, idle_row = await _measure(target, run, found, rate, seconds, timeout)
            rows += measured
            idle.append(idle_row)
    print_table("end to end: webhook -> Twilio create at the fake, open loop", _summary(rows))
    print_table("idle CPU (cores) with no traffic, charged to no message", idle)
    for target in targets:
        of_target = [row for row in rows if row["target"] == target]
        print_table(
            f"CPU µs per message by process, net of idle: {target}",
            _detail(of_target, "cpu_by_process"),
        )
    print_table("database operations per message, net of idle", _detail(rows, "db_ops_by_kind"))
    write_result(
        "e2e",
        rows,
        idle=idle,
        rate=rate,
        seconds_per_phase=seconds,
        database=database,
        processes=[spec.name for spec in SERVICES],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=sized(10.0, 5.0), help="messages/s")
    parser.add_argument("--seconds", type=float, default=sized(20.0, 4.0), help="per phase")
    parser.add_argument("--timeout", type=float, default=120.0, help="wait for replies (s)")
    parser.add_argument("--targets", default=",".join(TARGETS), help="system and/or baseline")
    args = parser.parse_args()
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown:
        raise SystemExit(f"unknown targets {unknown}; choose from {list(TARGETS)}")
    asyncio.run(_main(targets, args.rate, args.seconds, args.timeout))


if __name__ == "__main__":
    main()
