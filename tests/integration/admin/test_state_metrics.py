"""The system's gauges on ingress's `/metrics`, read from the real broker and database the way
`/admin/metrics` reads them: queue depths by state (a parked message is a non-empty dead-letter
queue), open crisis alerts and the oldest one's age, and the admin outbox's backlog."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aio_pika import Message
from aio_pika.abc import AbstractRobustConnection
from prometheus_client import REGISTRY

from services.admin.state_metrics import admin_probes
from services.scheduler.queues import EVENTS as SCHEDULER_EVENTS
from services.sms_worker.storage import ALERTS
from shared.broker.topology import parking_queue_name
from shared.mongo import Database
from shared.outbox import OUTBOX_COLLECTION, PENDING, SENT
from shared.state_metrics import refresh_once
from tests.integration.admin.conftest import NOW, AdminHarness

pytestmark = pytest.mark.integration


def _sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_queue_depths_open_alerts_and_outbox_backlog_become_gauges(
    admin: AdminHarness, db: Database, broker: AbstractRobustConnection
) -> None:
    for alert_id, age, status in (
        ("a1", timedelta(minutes=20), "open"),
        ("a2", timedelta(minutes=5), "open"),
        ("a3", timedelta(hours=2), "acknowledged"),
    ):
        await db[ALERTS].insert_one({"_id": alert_id, "status": status, "created_at": NOW - age})
    outbox = admin.admin_db[OUTBOX_COLLECTION]
    await outbox.insert_one(
        {"_id": "r1", "status": PENDING, "created_at": NOW - timedelta(days=90)}
    )
    await outbox.insert_one({"_id": "r2", "status": SENT, "created_at": NOW - timedelta(days=3)})
    # Touch the broker once so every consumer queue is declared, then park one message.
    await admin.services.broker.queue_depths()
    queue = admin.broker_settings.queue(SCHEDULER_EVENTS.name)
    channel = await broker.channel()
    await channel.default_exchange.publish(Message(b"{}"), routing_key=parking_queue_name(queue))
    await channel.close()

    await refresh_once(admin_probes(admin.services), timeout=30)

    assert _sample("givecare_queue_messages", queue=queue, state="parked") == 1
    assert _sample("givecare_queue_messages", queue=queue, state="ready") == 0
    assert _sample("givecare_queue_messages", queue=queue, state="retrying") == 0
    assert _sample("givecare_crisis_alerts_open") == 2
    assert _sample("givecare_crisis_alert_oldest_open_age_seconds") == 20 * 60
    assert _sample("givecare_outbox_backlog_rows", outbox="admin") == 1
    assert _sample("givecare_outbox_oldest_pending_age_seconds", outbox="admin") == 90 * 86_400

    exposed = (
        await admin.http.get(
            str(admin.http.base_url).rstrip("/").removesuffix("/admin") + "/metrics"
        )
    ).text
    for name in (
        "givecare_queue_messages",
        "givecare_crisis_alerts_open",
        "givecare_crisis_alert_oldest_open_age_seconds",
        "givecare_outbox_backlog_rows",
        "givecare_outbox_oldest_pending_age_seconds",
    ):
        assert f"\n{name}" in exposed, name
