"""The SMS sender against the fake Twilio: sends/s of one sender process, and the latency the
exactly-once machinery (inbox + record, claim, opt-out/cap check, outcome record) adds to each
Twilio call.

`python -m services.sms_sender` runs as a real process with a real broker and database;
the fake Twilio REST API runs as its own process on 127.0.0.1. Two phases per database mode:
sequential (one request in flight: latency without queueing) and burst (N requests published at
once: throughput). Time splits come from the sender's own /metrics, diffed around each phase.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.processes import child, fake_twilio_process, twilio_creates, wait_http
from bench.report import print_table, write_result
from bench.servers import broker_and_database, describe_database, drop_queues
from bench.sizes import sized
from services.devtools.fake_twilio import ACCOUNT_SID, AUTH_TOKEN
from shared.broker import Publisher, connect
from shared.config import BrokerSettings, MongoSettings
from shared.events import new_event
from shared.events.catalog import SmsOutboundRequested
from shared.local_servers import free_port
from shared.mongo import create_client

_WARM_UP = 20
BODY = "Thanks for checking in. How did you sleep last night, 1 to 5?"

# (metric, labels that must match) → the series summed for one figure.
_SERIES = {
    "handler": ("givecare_handler_duration_seconds", {"event_type": "sms.outbound.requested"}),
    "dispatch": ("givecare_sms_dispatch_seconds", {"outcome": "sent"}),
    "twilio": ("givecare_twilio_request_seconds", {"operation": "create", "outcome": "ok"}),
}


def _sums(metrics_text: str) -> dict[str, tuple[float, float]]:
    """(sum, count) of each figure in `_SERIES`."""
    totals = {name: [0.0, 0.0] for name in _SERIES}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            for name, (metric, labels) in _SERIES.items():
                if not sample.name.startswith(metric):
                    continue
                if any(sample.labels.get(k) != v for k, v in labels.items()):
                    continue
                if sample.name == f"{metric}_sum":
                    totals[name][0] += sample.value
                elif sample.name == f"{metric}_count":
                    totals[name][1] += sample.value
    return {name: (value[0], value[1]) for name, value in totals.items()}


def _sent(metrics_text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == "givecare_sms_sends_total" and sample.labels.get("outcome") == "sent"
    )


def _mean_ms(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]], name: str
) -> float:
    total = after[name][0] - before[name][0]
    count = after[name][1] - before[name][1]
    return round(total / count * 1000, 2) if count else float("nan")


async def _until_sent(outbound: Any, keys: list[str], *, interval: float) -> None:
    """Poll the sender's rows (the benchmark observes the database, as an operator would)."""
    while True:
        if await outbound.count_documents({"_id": {"$in": keys}, "status": "sent"}) == len(keys):
            return
        await asyncio.sleep(interval)


async def _phase(
    phase: str,
    count: int,
    *,
    publisher: Publisher,
    outbound: Any,
    ops: httpx.AsyncClient,
    sequential: bool,
    mode: str,
) -> dict[str, object]:
    run = uuid.uuid4().hex[:8]
    events = [
        new_event(
            SmsOutboundRequested(
                to_number=f"+1555{n:07d}", body=BODY, kind="reply", user_id=f"bench-{n}"
            ),
            idempotency_key=f"bench:{run}:{n}",
        )
        for n in range(count)
    ]
    keys = [e.idempotency_key for e in events]
    before_text = (await ops.get("/metrics")).text
    before = _sums(before_text)
    latencies: list[float] = []
    started = time.perf_counter()
    if sequential:
        for event in events:
            sent_at = time.perf_counter()
            await publisher.publish(event)
            await _until_sent(outbound, [event.idempotency_key], interval=0.002)
            latencies.append(time.perf_counter() - sent_at)
    else:
        sent_before = _sent(before_text)
        await asyncio.gather(*(publisher.publish(event) for event in events))
        # Watch the sender's own counter: polling the database would slow what is measured.
        while True:
            if _sent((await ops.get("/metrics")).text) - sent_before >= count:
                break
            await asyncio.sleep(0.1)
        await _until_sent(outbound, keys, interval=0.05)
    elapsed = time.perf_counter() - started
    after = _sums((await ops.get("/metrics")).text)
    handler = _mean_ms(before, after, "handler")
    dispatch = _mean_ms(before, after, "dispatch")
    twilio = _mean_ms(before, after, "twilio")
    latencies.sort()
    return {
        "db_mode": mode,
        "phase": phase,
        "messages": count,
        "sends_per_s": round(count / elapsed, 1),
        "e2e_p50_ms": round(latencies[len(latencies) // 2] * 1000, 2) if latencies else "-",
        "handler_ms": handler,
        "twilio_ms": twilio,
        "dispatch_ms": dispatch,
        "claim_record_ms": round(dispatch - twilio, 2),
        "inbox_record_ms": round(handler - dispatch, 2),
    }


async def _run_mode(
    mode: str, rabbitmq_url: str, mongodb_url: str, twilio_url: str, args: argparse.Namespace
) -> list[dict[str, object]]:
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    database = f"bench_sender_{prefix.strip('.')}"
    ops_port = free_port()
    env = {
        **os.environ,
        "RABBITMQ_URL": rabbitmq_url,
        "RABBITMQ_QUEUE_PREFIX": prefix,
        "MONGODB_URL": mongodb_url,
        "MONGODB_DB_SMS_SENDER": database,
        "OPS_PORT": str(ops_port),
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "json",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": "+15550009999",
        "TWILIO_API_BASE_URL": twilio_url,
        "TWILIO_STATUS_CALLBACK_URL": "https://ingress.example/webhooks/twilio/status",
    }
    broker_settings = BrokerSettings(url=rabbitmq_url, queue_prefix=prefix)
    client = create_client(MongoSettings(url=mongodb_url))
    connection = await connect(broker_settings, name="bench-sms-sender")
    rows: list[dict[str, object]] = []
    try:
        async with child("-m", "services.sms_sender", env=env):
            await wait_http(f"http://127.0.0.1:{ops_port}/readyz")
            publisher = await Publisher.open(connection, broker_settings)
            outbound = client[database]["outbound_messages"]
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ops_port}") as ops:
                common: dict[str, Any] = {
                    "publisher": publisher,
                    "outbound": outbound,
                    "ops": ops,
                    "mode": mode,
                }
                await _phase("warm-up", _WARM_UP, sequential=False, **common)
                rows.append(await _phase("sequential", args.sequential, sequential=True, **common))
                rows.append(await _phase("burst", args.burst, sequential=False, **common))
            await publisher.close()
    finally:
        await connection.close()
        await drop_queues(broker_settings)
        await client.drop_database(database)
        await client.close()
    return rows


async def _main(args: argparse.Namespace) -> None:
    with broker_and_database() as (rabbitmq_url, mongodb_url):
        database = describe_database(mongodb_url)
        async with fake_twilio_process() as twilio_url:
            rows = []
            modes = ["transactions"]
            for mode in modes:
                rows.extend(await _run_mode(mode, rabbitmq_url, mongodb_url, twilio_url, args))
            creates = await twilio_creates(twilio_url)
    expected = sum(int(str(row["messages"])) for row in rows) + _WARM_UP * len(modes)
    print_table("SMS sender: one process, fake Twilio on 127.0.0.1", rows)
    print(f"Twilio create calls: {creates} for {expected} requests (must be equal)")
    write_result(
        "sms_sender",
        rows,
        twilio_creates=creates,
        requests=expected,
        database=database,
        note="claim_record_ms = dispatch - twilio call (claim, opt-out/cap check, outcome "
        "record); inbox_record_ms = handler - dispatch (inbox + request record)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sequential", type=int, default=sized(100, 20), help="requests one at a time"
    )
    parser.add_argument(
        "--burst", type=int, default=sized(500, 100), help="requests published at once"
    )
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
