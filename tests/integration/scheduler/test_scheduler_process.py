"""`python -m services.scheduler` as a real process: it consumes `scheduler.events`, ticks, emits
through its relay, takes a deferral from the SMS worker back and re-emits in the window, and its
ops port serves the scheduler's Prometheus metrics, scraped here after the ticks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aio_pika.abc import AbstractRobustConnection
from prometheus_client.parser import text_string_to_metric_families

from services.scheduler.domain.rules import ProactiveState
from services.scheduler.records import ProactiveRecord
from services.scheduler.repositories import MongoProactiveStates
from shared.broker import Publisher
from shared.config import BrokerSettings
from shared.events import new_event
from shared.events.catalog import (
    EVENTS,
    ProactiveMessageDeferred,
    ProactiveMessageDue,
    UserProfileChanged,
)
from shared.mongo import Database
from tests.support.processes import ServiceProcess, service_environment
from tests.support.taps import tap_events
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

# The scheduler's development clock starts at noon in New York (07:00 in Honolulu).
CLOCK_START = datetime(2026, 1, 15, 17, 0, tzinfo=UTC)
PHONE = "+15551239876"
HONOLULU_PHONE = "+18085550100"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def _scrape(process: ServiceProcess) -> Samples:
    answer = await process.http.get("/metrics")
    assert answer.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
        if sample.name.startswith("givecare_scheduler_")
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_ticks_deferrals_and_metrics_on_the_ops_port(
    broker: AbstractRobustConnection,
    broker_settings: BrokerSettings,
    mongodb_url: str,
    mongo_db_name: str,
    db: Database,
) -> None:
    # Due at 07:00 local, before the window opens (next_due_at is allowed to be early).
    honolulu = ProactiveState(
        user_id="u-honolulu",
        timezone="Pacific/Honolulu",
        journey_phase="active",
        band="high",
        last_contact_at=CLOCK_START - timedelta(days=3),
        has_access=True,
    )
    assert await MongoProactiveStates(db, None).save(
        ProactiveRecord(honolulu, HONOLULU_PHONE, next_due_at=CLOCK_START - timedelta(hours=1))
    )
    env = service_environment(
        broker_settings,
        mongodb_url,
        service="scheduler",
        database=mongo_db_name,
        SCHEDULER_TICK_SECONDS="0.2",
        SCHEDULER_DEV_CLOCK_START=CLOCK_START.isoformat(),
        OUTBOX_POLL_INTERVAL_SECONDS="0.2",
    )
    tap = await tap_events(broker, broker_settings.exchange, ProactiveMessageDue.EVENT_TYPE)
    try:
        async with ServiceProcess("services.scheduler", env) as scheduler:
            publisher = await Publisher.open(broker, broker_settings)
            # Silent for eight days: reactivation stage 1 is due now, in New York's window.
            await publisher.publish(
                new_event(
                    UserProfileChanged(
                        user_id="u-ny",
                        phone=PHONE,
                        version=1,
                        journey_phase="active",
                        timezone="America/New_York",
                        burnout_band="thriving",
                        last_contact_at=CLOCK_START - timedelta(days=8),
                        changed_at=CLOCK_START,
                    )
                )
            )
            message = await eventually(lambda: tap.get(no_ack=True, fail=False), timeout=20)
            first = EVENTS.decode(message.body)
            assert isinstance(first.payload, ProactiveMessageDue)
            assert (first.payload.kind, first.payload.stage) == ("reactivation", 1)

            # The SMS worker could not send it: the same stage comes again under a new key.
            await publisher.publish(
                new_event(
                    ProactiveMessageDeferred(
                        user_id="u-ny",
                        phone=PHONE,
                        message_key=first.idempotency_key,
                        kind="reactivation",
                        stage=1,
                        due_at=first.payload.due_at,
                        reason="outside_window",
                        deferred_at=first.payload.due_at + timedelta(seconds=1),
                    ),
                    idempotency_key=f"proactive-deferred:{first.idempotency_key}",
                )
            )
            await publisher.close()
            message = await eventually(lambda: tap.get(no_ack=True, fail=False), timeout=20)
            again = EVENTS.decode(message.body)
            assert again.idempotency_key == f"{first.idempotency_key}:deferred:1"

            async def settled() -> Samples | None:
                samples = await _scrape(scheduler)
                sent = _value(samples, "givecare_scheduler_sent_total", kind="reactivation")
                return samples if sent == 2 else None

            samples = await eventually(settled)
            output = await scheduler.stop()
    finally:
        await tap.channel.close()

    assert _value(samples, "givecare_scheduler_due_total") == 3
    assert _value(samples, "givecare_scheduler_skipped_total", reason="outside_window") == 1
    assert _value(samples, "givecare_scheduler_skipped_total", reason="lost_race") == 0
    released = {"reason": "outside_window", "outcome": "released"}
    assert _value(samples, "givecare_scheduler_deferred_total", **released) == 1
    assert _value(samples, "givecare_scheduler_tick_seconds_count") >= 2
    assert _value(samples, "givecare_scheduler_tick_seconds_sum") > 0
    assert scheduler.returncode == 0, output.decode(errors="replace")
    assert PHONE.encode() not in output  # phone numbers never reach the log
    assert HONOLULU_PHONE.encode() not in output
