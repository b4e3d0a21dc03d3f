"""Parked events through the API: an event a failing handler parked is listed, replayed and then
handled once the handler is fixed; discarding needs explicit ids (or `all`), and every replay or
discard is audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aio_pika.abc import AbstractRobustConnection

from services.admin.auth import Role
from services.admin.store import AUDIT_LOG
from services.scheduler.queues import EVENTS as SCHEDULER_EVENTS
from shared.broker import Consumer, ConsumerQueue, Publisher
from shared.config import BrokerSettings
from shared.events import Envelope, new_event
from shared.events.catalog import EVENTS, CrisisDetected
from tests.integration.admin.conftest import ADMIN_PHONE, SUPPORT_PHONE, AdminHarness, auth
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

# The scheduler's queue, consumed here by one flaky handler for the one event it is sent.
SCHEDULER = ConsumerQueue(SCHEDULER_EVENTS.name, (CrisisDetected,))
QUEUE = SCHEDULER.name


class FlakyHandler:
    """A handler that fails while `broken` (a downstream outage), then works."""

    def __init__(self) -> None:
        self.broken = True
        self.handled: list[str] = []

    async def __call__(self, event: Envelope[CrisisDetected]) -> None:
        if self.broken:
            raise RuntimeError("downstream unavailable")
        self.handled.append(str(event.id))


@pytest.fixture
async def flaky(
    broker: AbstractRobustConnection, broker_settings: BrokerSettings
) -> AsyncIterator[FlakyHandler]:
    handler = FlakyHandler()
    consumer = Consumer(broker, SCHEDULER, EVENTS, broker_settings)
    consumer.handle(CrisisDetected, handler)
    await consumer.start()
    yield handler
    await consumer.stop()


async def _park(
    broker: AbstractRobustConnection, broker_settings: BrokerSettings, admin: AdminHarness, n: int
) -> list[str]:
    """Publish `n` events the flaky handler fails on until the runtime parks them."""
    publisher = await Publisher.open(broker, broker_settings)
    ids = []
    for index in range(n):
        event = new_event(
            CrisisDetected(
                user_id=f"user-{index}",
                phone=f"+1555555020{index}",
                severity="high",
                detected_at=datetime.now(UTC),
            )
        )
        await publisher.publish(event)
        ids.append(str(event.id))
    await publisher.close()
    token = await admin.token(SUPPORT_PHONE, Role.SUPPORT)

    async def all_parked() -> list[dict[str, Any]] | None:
        answer = await admin.http.get(f"/dlq/{QUEUE}", headers=auth(token))
        assert answer.status_code == 200, answer.text
        parked: list[dict[str, Any]] = answer.json()
        return parked if len(parked) == n else None

    parked = await eventually(all_parked, timeout=30)
    assert sorted(p["message_id"] for p in parked) == sorted(ids)
    return ids


async def test_an_event_parked_by_a_failing_handler_is_listed_replayed_and_handled(
    admin: AdminHarness,
    flaky: FlakyHandler,
    broker: AbstractRobustConnection,
    broker_settings: BrokerSettings,
) -> None:
    (event_id,) = await _park(broker, broker_settings, admin, 1)
    support = await admin.token(SUPPORT_PHONE, Role.SUPPORT)
    (parked,) = (await admin.http.get(f"/dlq/{QUEUE}", headers=auth(support))).json()
    assert parked["event_type"] == CrisisDetected.EVENT_TYPE
    assert parked["error_type"] == "RuntimeError"
    assert parked["error_message"] == "downstream unavailable"
    assert parked["attempts"] == broker_settings.max_attempts
    assert parked["failed_queue"] == broker_settings.queue(QUEUE)
    assert flaky.handled == []
    boss = await admin.token(ADMIN_PHONE, Role.ADMIN)
    metrics = (await admin.http.get("/metrics", headers=auth(boss))).json()
    assert metrics["queues"][QUEUE]["parked"] == 1
    assert metrics["parked_total"] == 1

    flaky.broken = False
    replayed = await admin.http.post(
        f"/dlq/{QUEUE}/replay", headers=auth(boss), json={"message_ids": [event_id]}
    )
    assert replayed.status_code == 200, replayed.text
    assert replayed.json() == {"queue": QUEUE, "replayed": 1}

    async def handled() -> bool:
        return flaky.handled == [event_id]

    await eventually(handled)
    assert (await admin.http.get(f"/dlq/{QUEUE}", headers=auth(support))).json() == []
    audit = await admin.admin_db[AUDIT_LOG].find_one({"action": "dlq.replay"})
    assert audit is not None
    assert audit["target"] == {"type": "queue", "id": QUEUE}
    assert audit["details"] == {"count": 1, "message_ids": [event_id]}
    assert audit["actor"]["roles"] == ["admin"]


async def test_discarding_needs_ids_or_all_and_leaves_the_others_parked(
    admin: AdminHarness,
    flaky: FlakyHandler,
    broker: AbstractRobustConnection,
    broker_settings: BrokerSettings,
) -> None:
    first, second = await _park(broker, broker_settings, admin, 2)
    boss = await admin.token(ADMIN_PHONE, Role.ADMIN)
    vague = await admin.http.post(f"/dlq/{QUEUE}/discard", headers=auth(boss), json={})
    assert vague.status_code == 422
    assert vague.json()["error"] == "invalid_request"

    one = await admin.http.post(
        f"/dlq/{QUEUE}/discard", headers=auth(boss), json={"message_ids": [first]}
    )
    assert one.json() == {"queue": QUEUE, "discarded": 1}
    left = (await admin.http.get(f"/dlq/{QUEUE}", headers=auth(boss))).json()
    assert [p["message_id"] for p in left] == [second]

    everything = await admin.http.post(
        f"/dlq/{QUEUE}/discard", headers=auth(boss), json={"all": True}
    )
    assert everything.json() == {"queue": QUEUE, "discarded": 1}
    assert (await admin.http.get(f"/dlq/{QUEUE}", headers=auth(boss))).json() == []
    assert flaky.handled == []
    counts = [
        row["details"]["count"]
        async for row in admin.admin_db[AUDIT_LOG].find({"action": "dlq.discard"}).sort("at", 1)
    ]
    assert counts == [1, 1]
    unknown = await admin.http.get("/dlq/no.such.queue", headers=auth(boss))
    assert unknown.status_code == 404
