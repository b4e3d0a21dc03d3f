"""The inbound SMS worker: events/s of one worker process and database round trips per message,
under the product's consumer runtime and, for comparison, under FastStream.

The worker runs in this process, wired as `python -m services.sms_worker` wires it, against a
real broker and database (local servers unless RABBITMQ_URL/MONGODB_URL are set). Each batch is
queued first with the consumer stopped, then the worker drains it: the time runs until every
message's last effect (`user.profile.changed`) is on the broker. A PyMongo `CommandListener`
counts every command the worker sends, split into the handler's and the outbox relay's; CPU is
this process's user+system time during the drain.

Runtimes: `givecare` (`shared.broker.Consumer`) and `faststream` (the same queue, handlers,
inbox and outbox relay, consumed by FastStream: `bench.baselines.faststream_consumer`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from pymongo import monitoring

from bench.baselines.faststream_consumer import FastStreamRuntime
from bench.load import CAREGIVER_SCRIPT
from bench.machine import process_cpu
from bench.report import print_table, write_result
from bench.servers import broker_and_database, describe_database
from bench.sizes import sized
from services.queues import CONSUMER_QUEUES
from services.sms_worker.bootstrap import SERVICE, inbound_consumer
from services.sms_worker.domain.responder import RulesResponder
from services.sms_worker.settings import SmsWorkerSettings
from shared.broker import Publisher, connect, declare_exchange
from shared.config import BrokerSettings, LinkSettings, SubscriptionSettings
from shared.events import new_event
from shared.events.catalog import SmsInboundReceived, UserProfileChanged
from shared.outbox import OUTBOX_COLLECTION
from shared.worker import WorkerHost, WorkerRuntime

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
# (scenario, measured?) of each line of the caregiver script, in order; the unmeasured lines
# finish onboarding.
_SCENARIOS = (
    ("first SMS of a new number", True),
    ("onboarding answer", True),
    ("", False),
    ("", False),
    ("onboarding complete", True),
    ("chat, rules responder", True),
)
STEPS = tuple(
    (scenario, text, measured)
    for (scenario, measured), text in zip(_SCENARIOS, CAREGIVER_SCRIPT, strict=True)
)
RUNTIMES: dict[str, type[WorkerRuntime]] = {
    "givecare": WorkerRuntime,
    "faststream": FastStreamRuntime,
}


# Sent to the admin database, so not recognisable by database name.
_TRANSACTION_COMMANDS = frozenset({"commitTransaction", "abortTransaction"})


class CommandCounter(monitoring.CommandListener):
    """Counts commands by (role, command, collection); role is the outbox relay or the handler."""

    def __init__(self, database_prefix: str) -> None:
        self.database_prefix = database_prefix
        self.counts: Counter[tuple[str, str, str]] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        ours = event.database_name.startswith(self.database_prefix)
        if not ours and event.command_name not in _TRANSACTION_COMMANDS:
            return
        name = event.command_name
        collection = event.command.get(name)
        collection = collection if isinstance(collection, str) else "-"
        self.counts[(_role(name, collection, event.command), name, collection)] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


def _role(name: str, collection: str, command: Any) -> str:
    if collection != OUTBOX_COLLECTION:
        return "handler"
    if name == "update":
        first = (command.get("updates") or [{}])[0]
        # Handlers add rows with an upsert of `$setOnInsert`; the relay claims and marks them.
        if isinstance(first.get("u"), dict) and "$setOnInsert" in first["u"]:
            return "handler"
    return "relay"


def _inbound(phone: str, text: str, step: int) -> Any:
    sid = f"SM{uuid.uuid4().hex}"
    return new_event(
        SmsInboundReceived(
            message_sid=sid,
            from_number=phone,
            to_number="+18005550199",
            body=text,
            received_at=START + timedelta(minutes=step),
        ),
        idempotency_key=f"twilio:{sid}",
    )


async def _run_mode(
    runtime_name: str,
    users: int,
    rabbit_url: str,
    mongo_url: str,
    counter: CommandCounter,
) -> list[dict[str, Any]]:
    run_id = uuid.uuid4().hex[:10]
    broker_settings = BrokerSettings(
        url=rabbit_url, exchange=f"bench.{run_id}", queue_prefix=f"b{run_id}."
    )
    os.environ.update(
        {
            "RABBITMQ_URL": rabbit_url,
            "RABBITMQ_EXCHANGE": broker_settings.exchange,
            "RABBITMQ_QUEUE_PREFIX": broker_settings.queue_prefix,
            "MONGODB_URL": mongo_url,
            "MONGODB_DB_SMS_WORKER": f"{counter.database_prefix}{run_id}",
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "json",
        }
    )
    phones = [f"+1415{2000000 + n:07d}" for n in range(users)]
    rows: list[dict[str, Any]] = []
    connection = await connect(broker_settings, name="bench")
    async with RUNTIMES[runtime_name].open(SERVICE, queues=CONSUMER_QUEUES) as runtime:
        settings = SmsWorkerSettings()
        consumer = await inbound_consumer(
            runtime,
            settings,
            SubscriptionSettings(),
            RulesResponder(settings.reply_max_chars),
            LinkSettings(),
        )
        channel = await connection.channel()
        exchange = await declare_exchange(channel, broker_settings.exchange)
        tap = await channel.declare_queue(exclusive=True)
        await tap.bind(exchange, UserProfileChanged.EVENT_TYPE)
        effects, target, reached = 0, 0, asyncio.Event()

        async def count_effect(message: AbstractIncomingMessage) -> None:
            nonlocal effects
            effects += 1
            if effects >= target:
                reached.set()

        await tap.consume(count_effect, no_ack=True)
        publisher = await Publisher.open(connection, broker_settings)
        for step, (scenario, text, measured) in enumerate(STEPS):
            for phone in phones:
                await publisher.publish(_inbound(phone, text, step))
            counter.counts.clear()
            target = users * (step + 1)
            reached.clear()
            stop = asyncio.Event()
            started, cpu_before = time.perf_counter(), process_cpu(os.getpid())
            host = asyncio.create_task(WorkerHost([consumer], [runtime.relay]).run(stop))
            await reached.wait()
            elapsed = time.perf_counter() - started
            cpu = process_cpu(os.getpid()) - cpu_before
            stop.set()
            await host
            if not measured:
                continue
            handler = sum(n for (role, _, _), n in counter.counts.items() if role == "handler")
            relay = sum(n for (role, _, _), n in counter.counts.items() if role == "relay")
            rows.append(
                {
                    "runtime": runtime_name,
                    "mode": "transactions",
                    "scenario": scenario,
                    "messages": users,
                    "seconds": round(elapsed, 2),
                    "msgs_per_s": round(users / elapsed, 1),
                    "cpu_us_per_msg": round(cpu / users * 1e6, 1),
                    "db_cmds_per_msg_handler": round(handler / users, 2),
                    "db_cmds_per_msg_relay": round(relay / users, 2),
                    "breakdown": {
                        f"{role}:{name}:{collection}": round(n / users, 2)
                        for (role, name, collection), n in sorted(counter.counts.items())
                    },
                }
            )
        await publisher.close()
        await channel.close()
        await runtime.client.drop_database(runtime.db.name)
    await connection.close()
    return rows


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per database mode and scenario, the product's runtime against FastStream's."""
    by_key: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_key.setdefault((row["mode"], row["scenario"]), {})[row["runtime"]] = row
    table = []
    for (mode, scenario), pair in by_key.items():
        ours, theirs = pair.get("givecare"), pair.get("faststream")
        if ours is None or theirs is None:
            continue
        ours_trips = ours["db_cmds_per_msg_handler"] + ours["db_cmds_per_msg_relay"]
        theirs_trips = theirs["db_cmds_per_msg_handler"] + theirs["db_cmds_per_msg_relay"]
        table.append(
            {
                "mode": mode,
                "scenario": scenario,
                "msgs/s givecare/faststream": round(ours["msgs_per_s"] / theirs["msgs_per_s"], 2),
                "cpu/msg faststream/givecare": round(
                    theirs["cpu_us_per_msg"] / ours["cpu_us_per_msg"], 2
                ),
                "db trips/msg givecare/faststream": round(ours_trips / theirs_trips, 2),
            }
        )
    return table


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=sized(150, 40), help="caregivers per batch")
    parser.add_argument(
        "--runtimes", default=",".join(RUNTIMES), help="consumer runtimes, comma-separated"
    )
    args = parser.parse_args()
    runtimes = [name.strip() for name in args.runtimes.split(",") if name.strip()]
    unknown = sorted(set(runtimes) - set(RUNTIMES))
    if unknown:
        raise SystemExit(f"unknown runtimes {unknown}; choose from {sorted(RUNTIMES)}")
    counter = CommandCounter(database_prefix="bench_sms_inbound_")
    monitoring.register(counter)
    rows: list[dict[str, Any]] = []
    with broker_and_database() as (rabbit_url, mongo_url):
        database = describe_database(mongo_url)
        for runtime in runtimes:
            rows += await _run_mode(runtime, args.users, rabbit_url, mongo_url, counter)
    print_table(
        "inbound SMS worker: one process, batch drained from the queue",
        [{k: v for k, v in row.items() if k != "breakdown"} for row in rows],
    )
    chat = next(r for r in rows if r["scenario"].startswith("chat"))
    print_table(
        f"round trips per chat message ({chat['runtime']}, {chat['mode']}), "
        "by role:command:collection",
        [{"command": name, "per_msg": n} for name, n in chat["breakdown"].items()],
    )
    compared = ratios(rows)
    print_table("runtimes compared (msgs/s and CPU: above 1, givecare is better)", compared)
    write_result("sms_inbound", rows, users=args.users, ratios=compared, database=database)


if __name__ == "__main__":
    asyncio.run(main())
