"""The scheduler against a real database: the read model fed by events, ticks that emit once per
slot, the lease between replicas, the claim between overlapping ticks, and churn."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.scheduler.state import PROACTIVE_STATE, SCHEDULER_INDEXES, ProactiveStateStore
from services.scheduler.tick import Scheduler, TickReport
from shared.clock import ManualClock
from shared.events.catalog import (
    EVENTS,
    BillingAccessChanged,
    CrisisDetected,
    SmsOptOutChanged,
    UserProfileChanged,
)
from shared.mongo import Database, MongoClient, ensure_indexes
from shared.outbox import OUTBOX_COLLECTION, Outbox

pytestmark = pytest.mark.integration

# 15:00 UTC on a January day = 10:00 in New York.
MORNING = datetime(2026, 1, 15, 15, 0, tzinfo=UTC)
PHONE = "+15551230000"


def _profile(version: int, **changes: Any) -> UserProfileChanged:
    fields: dict[str, Any] = {
        "user_id": "u1",
        "phone": PHONE,
        "version": version,
        "journey_phase": "active",
        "timezone": "America/New_York",
        "burnout_band": "mild",
        "last_contact_at": MORNING - timedelta(hours=1),
        "changed_at": MORNING,
        **changes,
    }
    return UserProfileChanged(**fields)


async def _setup(
    db: Database, mongo_client: MongoClient, *, subscriptions: bool = False
) -> tuple[ProactiveStateStore, ManualClock, Outbox]:
    await ensure_indexes(db, SCHEDULER_INDEXES)
    clock = ManualClock(MORNING)
    store = ProactiveStateStore(db[PROACTIVE_STATE], subscriptions_enabled=subscriptions)
    return store, clock, Outbox(db[OUTBOX_COLLECTION], clock)


def _scheduler(
    db: Database, outbox: Outbox, clock: ManualClock, holder: str = "a", **kw: Any
) -> Scheduler:
    return Scheduler(
        db,
        outbox,
        clock,
        holder=holder,
        batch_size=100,
        lease_seconds=30,
        subscriptions_enabled=kw.pop("subscriptions_enabled", False),
        **kw,
    )


async def _emitted(db: Database) -> list[tuple[str, str]]:
    rows = db[OUTBOX_COLLECTION].find().sort("created_at", 1)
    return [(row["type"], EVENTS.decode(row["body"]).idempotency_key) async for row in rows]


async def test_crisis_followup_is_emitted_once_when_due_and_stages_advance(
    db: Database, mongo_client: MongoClient
) -> None:
    store, clock, outbox = await _setup(db, mongo_client)
    crisis = MORNING - timedelta(hours=1)  # 09:00 local: its stages fall inside the window
    await store.apply_profile(_profile(1, last_crisis_event_at=crisis), clock.now(), None)
    state = await db[PROACTIVE_STATE].find_one({"_id": "u1"})
    assert state is not None
    assert state["next_due_at"] == crisis + timedelta(days=1)

    scheduler = _scheduler(db, outbox, clock, transactions_with=mongo_client)
    assert (await scheduler.tick()).sent == 0  # type: ignore[union-attr]
    clock.set(crisis + timedelta(days=1))
    report = await scheduler.tick()
    assert report is not None
    assert (report.due, report.sent) == (1, 1)
    assert (await scheduler.tick()).due == 0  # type: ignore[union-attr]
    emitted = await _emitted(db)
    assert emitted == [
        ("proactive.message.due", f"proactive:u1:crisis_followup:{crisis:%Y%m%dT%H%M%S}:1")
    ]
    state = await db[PROACTIVE_STATE].find_one({"_id": "u1"})
    assert state is not None
    assert state["crisis_followup_count"] == 1
    assert state["next_due_at"] == crisis + timedelta(days=3)


async def test_a_second_replica_waits_for_the_lease_and_overlapping_claims_send_once(
    db: Database, mongo_client: MongoClient
) -> None:
    store, clock, outbox = await _setup(db, mongo_client)
    await store.apply_profile(
        _profile(1, last_crisis_event_at=MORNING - timedelta(days=2)), clock.now(), None
    )
    first = _scheduler(db, outbox, clock, "replica-1")
    second = _scheduler(db, outbox, clock, "replica-2")
    assert await first._take_lease(clock.now())
    assert await second.tick() is None  # lease held
    # Even if the lease failed and both worked on the same stale document, one claim wins.
    document = await db[PROACTIVE_STATE].find_one({"_id": "u1"})
    assert document is not None
    one, two = TickReport(), TickReport()
    await asyncio.gather(
        first._handle(dict(document), clock.now(), one),
        second._handle(dict(document), clock.now(), two),
    )
    assert one.sent + two.sent == 1
    assert one.lost_races + two.lost_races == 1
    assert len(await _emitted(db)) == 1


async def test_opt_out_access_and_stale_snapshots(db: Database, mongo_client: MongoClient) -> None:
    store, clock, outbox = await _setup(db, mongo_client, subscriptions=True)
    # Access arrives before the profile: kept on a placeholder, merged when the profile comes.
    await store.apply_access(
        BillingAccessChanged(phone=PHONE, has_access=True, status="active", changed_at=MORNING),
        clock.now(),
        None,
    )
    await store.apply_profile(
        _profile(2, last_crisis_event_at=MORNING - timedelta(days=2)), clock.now(), None
    )
    state = await db[PROACTIVE_STATE].find_one({"_id": "u1"})
    assert state is not None
    assert state["has_access"] is True
    assert await db[PROACTIVE_STATE].count_documents({}) == 1
    # An older snapshot changes nothing.
    await store.apply_profile(_profile(1, journey_phase="onboarding"), clock.now(), None)
    assert (await db[PROACTIVE_STATE].find_one({"_id": "u1"}) or {})["journey_phase"] == "active"

    await store.apply_opt_out(
        SmsOptOutChanged(phone=PHONE, opted_out=True, source="keyword", changed_at=MORNING),
        clock.now(),
        None,
    )
    state = await db[PROACTIVE_STATE].find_one({"_id": "u1"})
    assert state is not None
    assert state["opted_out"] is True
    assert state["next_due_at"] is None
    scheduler = _scheduler(db, outbox, clock, subscriptions_enabled=True)
    assert (await scheduler.tick()).sent == 0  # type: ignore[union-attr]
    assert await _emitted(db) == []


async def test_a_new_crisis_restarts_the_cascade(db: Database, mongo_client: MongoClient) -> None:
    store, clock, _ = await _setup(db, mongo_client)
    await store.apply_profile(
        _profile(1, last_crisis_event_at=MORNING - timedelta(days=20), crisis_followup_count=4),
        clock.now(),
        None,
    )
    await store.apply_crisis(
        CrisisDetected(user_id="u1", phone=PHONE, severity="high", detected_at=MORNING),
        clock.now(),
        None,
    )
    state = await db[PROACTIVE_STATE].find_one({"_id": "u1"})
    assert state is not None
    assert state["crisis_followup_count"] == 0
    assert state["last_crisis_event_at"] == MORNING
    assert state["next_due_at"] == MORNING + timedelta(days=1)


async def test_silence_after_the_last_reactivation_churns_once(
    db: Database, mongo_client: MongoClient
) -> None:
    store, clock, outbox = await _setup(db, mongo_client)
    await store.apply_profile(
        _profile(1, burnout_band="thriving", last_contact_at=MORNING - timedelta(days=7)),
        clock.now(),
        None,
    )
    scheduler = _scheduler(db, outbox, clock)
    for _ in range(40):  # forty mornings of silence
        await scheduler.tick()
        clock.advance(timedelta(days=1))
    emitted = await _emitted(db)
    kinds = [key.split(":")[2] + ":" + key.split(":")[-1] for _, key in emitted[:-1]]
    assert kinds == ["reactivation:1", "reactivation:2", "reactivation:3"]
    assert emitted[-1][0] == "user.churned"
    state = await db[PROACTIVE_STATE].find_one({"_id": "u1"})
    assert state is not None
    assert state["journey_phase"] == "churned"
