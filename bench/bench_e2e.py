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

from bench import capacity
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
CAPACITY_RATES = sized((5.0, 10.0, 20.0, 40.0, 80.0), (5.0, 20.0))
CAPACITY_SECONDS = sized(60.0, 8.0)


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
    # Each service's ops endpoint (`/metrics`), for its own count of database commands.
    ops_urls: dict[str, str]


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
        # No Stripe API in the benchmark: the scheduled reconcile is off, as it must be said.
        BILLING_RECONCILE_INTERVAL_SECONDS="0",
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
        ops_urls = {name: f"http://127.0.0.1:{p.ops_port}" for name, p in processes.items()}
        yield Target(f"http://127.0.0.1:{entry.ops_port}", pids, ops_urls)
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
_COMMAND = "commands:"


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


async def _idle_rates(meters: Meters, seconds: float, http: httpx.AsyncClient) -> dict[str, float]:
    """What each process and server spends per second with no traffic (pollers, ticks,
    heartbeats), and the database commands each service sends meanwhile, so that messages are
    charged only with what they cost."""
    before = await meters.read()
    commands = await capacity.service_commands(http, meters.target.ops_urls)
    await asyncio.sleep(seconds)
    spent = cpu_spent(before, await meters.read())
    after = await capacity.service_commands(http, meters.target.ops_urls)
    idle_commands = capacity.commands_per_message(commands, after, 1)
    return {
        **{name: value / seconds for name, value in spent.items()},
        **{f"{_COMMAND}{key}": value / seconds for key, value in idle_commands.items()},
    }


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
    before = await _Reading.take(meters, http)
    outcomes = await open_loop(http, requests, rate)
    latencies = await _replies(arrivals, requests, outcomes, timeout)
    costs = await before.costs_until_now(meters, http, idle, len(requests))
    delivered = [latency for latency in latencies if latency is not None]
    return {
        "phase": name,
        "offered_rps": rate,
        "messages": len(requests),
        "accepted": sum(1 for o in outcomes if o.status == 200),
        "replied": len(delivered),
        "webhook_p50_ms": milliseconds(percentile([o.latency for o in outcomes], 0.50)),
        "p50_ms": milliseconds(percentile(delivered, 0.50)),
        "p95_ms": milliseconds(percentile(delivered, 0.95)),
        "p99_ms": milliseconds(percentile(delivered, 0.99)),
        "max_ms": milliseconds(max(delivered, default=float("nan"))),
        **costs,
        "latencies_ms": sorted(milliseconds(latency) for latency in delivered),
    }


@dataclass
class _Reading:
    """Every meter read at the start of a phase or step: CPU, server operations, each
    service's database commands, and the moment."""

    meters: dict[str, float]
    commands: dict[str, float]
    at: float

    @classmethod
    async def take(cls, meters: Meters, http: httpx.AsyncClient) -> _Reading:
        commands = await capacity.service_commands(http, meters.target.ops_urls)
        return cls(await meters.read(), commands, time.monotonic())

    async def costs_until_now(
        self, meters: Meters, http: httpx.AsyncClient, idle: Mapping[str, float], count: int
    ) -> dict[str, Any]:
        """What the messages since this reading cost each, less what the same processes spend
        idle in as long: CPU by process and server, server operations, service commands."""
        now = await _Reading.take(meters, http)
        elapsed = now.at - self.at
        spent = cpu_spent(self.meters, now.meters)
        operations = [name for name in spent if name.startswith(_OPERATION)]

        def per_message(names: Sequence[str], scale: float = 1e6) -> float:
            """Per message (CPU in µs), net of idle (at least zero: the idle rate is an
            estimate over a few seconds, and a quiet process's busy time can come out below
            it)."""
            net = [spent[name] - idle.get(name, 0.0) * elapsed for name in names]
            if any(math.isnan(value) for value in net):
                return math.nan  # a server this benchmark did not start: not measured
            total = sum(max(0.0, value) for value in net) / count * scale
            return round(total, 1 if scale > 1 else 2)

        idle_commands = {
            key.removeprefix(_COMMAND): rate * elapsed
            for key, rate in idle.items()
            if key.startswith(_COMMAND)
        }
        commands = capacity.commands_per_message(
            {k: self.commands.get(k, 0.0) + idle_commands.get(k, 0.0) for k in now.commands},
            now.commands,
            count,
        )
        target = meters.target
        return {
            "processes_cpu_us_per_msg": per_message(list(target.pids)),
            "broker_cpu_us_per_msg": per_message(["broker"]),
            "db_cpu_us_per_msg": per_message(["database"]),
            "db_ops_per_msg": per_message(operations, scale=1),
            "cpu_by_process": {
                name: per_message([name]) for name in [*target.pids, *meters.sessions]
            },
            "db_ops_by_kind": {
                name.removeprefix(_OPERATION): per_message([name], scale=1) for name in operations
            },
            "commands_by_service": capacity.by_service(commands),
            "commands_by_kind": commands,
        }


async def _capacity(
    target: Target,
    run: int,
    *,
    http: httpx.AsyncClient,
    arrivals: CreateArrivals,
    meters: Meters,
    idle: Mapping[str, float],
    rates: Sequence[float],
    seconds: float,
) -> list[dict[str, Any]]:
    """Step the rate up until a step does not keep up; one row per step run."""
    pool = capacity.CaregiverPool(run + 50)

    def reply_at(phone: str, scheduled: float) -> float | None:
        return arrivals.first_after(phone, scheduled)

    def answered(phone: str, scheduled: float) -> bool:
        return reply_at(phone, scheduled) is not None

    rows: list[dict[str, Any]] = []
    for rate in rates:
        before = await _Reading.take(meters, http)
        sent = await capacity.send_step(
            http,
            pool,
            answered,
            base_url=target.base_url,
            auth_token=AUTH_TOKEN,
            rate=rate,
            seconds=seconds,
        )
        outcome = await capacity.await_replies(sent, reply_at)
        costs = await before.costs_until_now(meters, http, idle, len(sent))
        rows.append(
            {
                "offered_rps": rate,
                "messages": len(sent),
                "returning": sum(1 for s in sent if s.returning),
                "accepted": sum(1 for s in sent if s.status == 200),
                "p50_ms": _finite_ms(outcome.p50),
                "p99_ms": _finite_ms(outcome.p99),
                "backlog_at_end": outcome.backlog_at_end,
                "drained_s": None
                if outcome.drained_after is None
                else round(outcome.drained_after, 2),
                "kept_up": outcome.kept_up,
                **costs,
            }
        )
        if not outcome.kept_up:
            break  # higher rates only pile more on a backlog that is not draining
    return rows


def _finite_ms(seconds: float) -> float | None:
    """Milliseconds, or None when the percentile fell on an unanswered message."""
    return None if math.isinf(seconds) or math.isnan(seconds) else milliseconds(seconds)


@dataclass(frozen=True)
class Plan:
    """What to run against each target: the phases at one rate, then the capacity steps."""

    rate: float
    seconds: float
    timeout: float
    capacity_rates: Sequence[float]
    capacity_seconds: float


@dataclass
class Measured:
    phases: list[dict[str, Any]]
    capacity: list[dict[str, Any]]
    idle: dict[str, Any]


async def _run(
    target_name: str, run: int, meters: Meters, arrivals: CreateArrivals, plan: Plan
) -> Measured:
    """Warm up, measure idle, run every phase, then step the rate up."""
    target = meters.target
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=target.base_url, limits=limits, timeout=60) as http:
        common: dict[str, Any] = {
            "http": http,
            "target": target,
            "arrivals": arrivals,
            "meters": meters,
            "timeout": plan.timeout,
        }
        warm_up = [caregiver_phone(run, 90_000 + n) for n in range(_WARM_UP)]
        await _phase("warm-up", PHASES[0][1], warm_up, idle={}, rate=5, **common)
        idle = await _idle_rates(meters, _IDLE_SECONDS, http)
        phones = [caregiver_phone(run, n) for n in range(max(1, int(plan.rate * plan.seconds)))]
        phases = [
            {
                "target": target_name,
                **await _phase(name, text, phones, idle=idle, rate=plan.rate, **common),
            }
            for name, text in PHASES
        ]
        steps = await _capacity(
            target,
            run,
            http=http,
            arrivals=arrivals,
            meters=meters,
            idle=idle,
            rates=plan.capacity_rates,
            seconds=plan.capacity_seconds,
        )
    idle_row = {
        "target": target_name,
        "processes_idle_cores": round(sum(idle[name] for name in target.pids), 3),
        "broker_idle_cores": round(idle["broker"], 3),
        "db_idle_cores": round(idle["database"], 3),
        "db_idle_ops_per_s": round(sum(v for k, v in idle.items() if k.startswith(_OPERATION)), 1),
    }
    return Measured(phases, [{"target": target_name, **row} for row in steps], idle_row)


async def _measure(target_name: str, run: int, found: Servers, plan: Plan) -> Measured:
    tag = uuid.uuid4().hex[:10]
    arrivals = CreateArrivals(FakeTwilio().app())
    operations = DatabaseOperations(found.mongodb_url)
    sessions = {"broker": found.broker_session, "database": found.database_session}
    try:
        async with LoopbackServer(arrivals) as fake:
            env = _environment(found, tag, fake.url)
            async with _running(target_name, env) as target:
                measured = await _run(
                    target_name, run, Meters(target, sessions, operations), arrivals, plan
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


DETAIL = frozenset(
    {"latencies_ms", "cpu_by_process", "db_ops_by_kind", "commands_by_service", "commands_by_kind"}
)


def summary(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows without their breakdowns (`DETAIL`)."""
    return [{k: v for k, v in row.items() if k not in DETAIL} for row in rows]


def detail(rows: Sequence[Mapping[str, Any]], key: str, label: str) -> list[dict[str, Any]]:
    """One breakdown (`cpu_by_process`, `commands_by_service`, ...), a row per target and
    phase or step (`label` names the column that tells them apart)."""
    return [{"target": row["target"], label: row[label], **row[key]} for row in rows]


def highest_kept_up(steps: Sequence[Mapping[str, Any]], target: str) -> float | None:
    kept = [row["offered_rps"] for row in steps if row["target"] == target and row["kept_up"]]
    return max(kept, default=None)


def _print(measured: Sequence[Measured], targets: Sequence[str]) -> None:
    phases = [row for m in measured for row in m.phases]
    steps = [row for m in measured for row in m.capacity]
    print_table("end to end: webhook -> Twilio create at the fake, open loop", summary(phases))
    print_table(
        "idle CPU (cores) with no traffic, charged to no message", [m.idle for m in measured]
    )
    for target in targets:
        of_target = [row for row in phases if row["target"] == target]
        print_table(
            f"CPU µs per message by process, net of idle: {target}",
            detail(of_target, "cpu_by_process", "phase"),
        )
    print_table(
        "database operations per message (server counters), net of idle",
        detail(phases, "db_ops_by_kind", "phase"),
    )
    print_table(
        "database commands per message by service (their own counts), net of idle",
        detail(phases, "commands_by_service", "phase"),
    )
    for row in phases:
        if row["target"] == "system":
            print_table(
                f"database commands per message by service, command and collection: {row['phase']}",
                [
                    {"service command collection": k, "per message": v}
                    for k, v in row["commands_by_kind"].items()
                ],
            )
    print_table(
        "capacity: stepped open-loop rates, new and returning caregivers (kept up: p99 < "
        f"{capacity.KEPT_UP_P99_SECONDS:g} s and the backlog drained within "
        f"{capacity.DRAIN_SECONDS:g} s)",
        summary(steps),
    )
    print_table(
        "capacity: CPU µs per message by process, net of idle",
        detail(steps, "cpu_by_process", "offered_rps"),
    )
    for target in targets:
        print(f"highest rate kept up, {target}: {highest_kept_up(steps, target) or 'none'}/s")


async def _main(targets: Sequence[str], plan: Plan) -> None:
    measured: list[Measured] = []
    with servers() as found:
        database = describe_database(found.mongodb_url)
        for run, target in enumerate(targets):
            measured.append(await _measure(target, run, found, plan))
            # Written after each target, so a later one that fails loses nothing measured.
            done = targets[: run + 1]
            _print(measured, done)
            write_result(
                "e2e",
                [row for m in measured for row in m.phases],
                capacity=[row for m in measured for row in m.capacity],
                idle=[m.idle for m in measured],
                rate=plan.rate,
                seconds_per_phase=plan.seconds,
                capacity_seconds_per_step=plan.capacity_seconds,
                database=database,
                processes=[spec.name for spec in SERVICES],
            )


def _rates(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=sized(10.0, 5.0), help="messages/s")
    parser.add_argument("--seconds", type=float, default=sized(20.0, 4.0), help="per phase")
    parser.add_argument("--timeout", type=float, default=120.0, help="wait for replies (s)")
    parser.add_argument(
        "--capacity-rates",
        type=_rates,
        default=list(CAPACITY_RATES),
        help="stepped rates, messages/s (empty: no capacity steps)",
    )
    parser.add_argument(
        "--capacity-seconds", type=float, default=CAPACITY_SECONDS, help="per capacity step"
    )
    parser.add_argument("--targets", default=",".join(TARGETS), help="system and/or baseline")
    args = parser.parse_args()
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown:
        raise SystemExit(f"unknown targets {unknown}; choose from {list(TARGETS)}")
    plan = Plan(args.rate, args.seconds, args.timeout, args.capacity_rates, args.capacity_seconds)
    asyncio.run(_main(targets, plan))


if __name__ == "__main__":
    main()
