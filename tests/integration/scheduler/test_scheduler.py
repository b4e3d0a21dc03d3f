"""The scheduler against a real database: the read model fed by events, ticks that emit once per
slot, the lease between replicas, the claim between overlapping ticks, churn, deferrals from the
SMS worker, and the claim's compare-and-set and atomic emission."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from prometheus_client import REGISTRY
from pymongo.asynchronous.client_session import AsyncClientSession

from services.scheduler.handlers import SchedulerHandlers
from services.scheduler.state import PROACTIVE_STATE, SCHEDULER_INDEXES, ProactiveStateStore
from services.scheduler.tick import Scheduler, TickReport
from shared.broker.consumer import AlreadyProcessed
from shared.clock import ManualClock
from shared.events import Envelope, new_event
from shared.events.catalog import (
    EVENTS,
    BillingAccessChanged,
    CrisisDetected,
    ProactiveMessageDeferred,
    ProactiveMessageDue,
    SmsOptOutChanged,
    UserProfileChanged,
)
from shared.inbox import INBOX_COLLECTION, Inbox, inbox_indexes
from shared.mongo import Database, MongoClient, ensure_indexes
from shared.outbox import OUTBOX_COLLECTION, Outbox
from shared.unit_of_work import Transactions, UnitOfWork

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

    scheduler = _scheduler(db, outbox, clock)
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


# --- deferrals, compare-and-set, the atomic claim ------------------------------------------

# 19:59 in New York: the window's last minute; 20:30 it has closed.
LAST_MINUTE = datetime(2026, 1, 16, 0, 59, tzinfo=UTC)
NEXT_MORNING = datetime(2026, 1, 16, 14, 0, tzinfo=UTC)  # 09:00 in New York


class Crash(Exception):
    """The scheduler died here."""


class _Hooked(Outbox):
    """An outbox that runs `before_add` (once) before it writes a row: a crash or a concurrent
    event landing between the claim and its outbox row."""

    def __init__(self, outbox: Outbox, before_add: Callable[[], Awaitable[None]]) -> None:
        self.__dict__.update(outbox.__dict__)
        self._before_add: Callable[[], Awaitable[None]] | None = before_add

    async def add(
        self,
        event: Envelope[Any],
        session: AsyncClientSession | None = None,
        *,
        row_id: str | None = None,
    ) -> None:
        hook, self._before_add = self._before_add, None
        if hook is not None:
            await hook()
        await super().add(event, session, row_id=row_id)


def _deferral(
    due: Envelope[Any], at: datetime, reason: Literal["outside_window", "late"] = "outside_window"
) -> Envelope[ProactiveMessageDeferred]:
    """The SMS worker's answer to `due`, as `proactive_handlers` makes it."""
    payload = due.payload
    assert isinstance(payload, ProactiveMessageDue)
    return new_event(
        ProactiveMessageDeferred(
            user_id=payload.user_id,
            phone=payload.phone,
            message_key=due.idempotency_key,
            kind=payload.kind,
            stage=payload.stage,
            due_at=payload.due_at,
            reason=reason,
            deferred_at=at,
        ),
        idempotency_key=f"proactive-deferred:{due.idempotency_key}",
    )


async def _due_events(db: Database) -> list[Envelope[Any]]:
    rows = db[OUTBOX_COLLECTION].find({"type": ProactiveMessageDue.EVENT_TYPE})
    return [EVENTS.decode(row["body"]) async for row in rows.sort("created_at", 1)]


def _inbox(db: Database, mongo_client: MongoClient, outbox: Outbox) -> Inbox[UnitOfWork]:
    return Inbox(
        Transactions(mongo_client, outbox, UnitOfWork),
        db[INBOX_COLLECTION],
        outbox._clock,
        consumer="scheduler.events",
    )


async def test_a_deferred_message_goes_out_in_the_next_window_under_a_new_key(
    db: Database, mongo_client: MongoClient
) -> None:
    """Emitted at 19:59, consumed by the SMS worker at 20:30: the worker defers it, the scheduler
    gives back the slot and the stage, and the same stage is emitted at 09:00 the next day."""
    store, clock, outbox = await _setup(db, mongo_client)
    await ensure_indexes(db, inbox_indexes(14))
    crisis = LAST_MINUTE - timedelta(days=1)
    await store.apply_profile(_profile(1, last_crisis_event_at=crisis), clock.now(), None)
    clock.set(LAST_MINUTE)
    scheduler = _scheduler(db, outbox, clock)
    assert (await scheduler.tick()).sent == 1  # type: ignore[union-attr]
    [first] = await _due_events(db)
    state = await db[PROACTIVE_STATE].find_one({"_id": "u1"})
    assert state is not None
    assert (state["crisis_followup_count"], state["last_proactive_at"]) == (1, LAST_MINUTE)
    assert "emission" not in state

    clock.set(LAST_MINUTE + timedelta(minutes=31))
    handlers = SchedulerHandlers(store, clock)
    deliver = handlers.deferrals(_inbox(db, mongo_client, outbox))
    released = REGISTRY.get_sample_value(
        "givecare_scheduler_deferred_total", {"reason": "outside_window", "outcome": "released"}
    )
    deferral = _deferral(first, clock.now())
    await deliver(deferral)
    with pytest.raises(AlreadyProcessed):
        await deliver(deferral)  # a redelivery changes nothing
    assert (
        REGISTRY.get_sample_value(
            "givecare_scheduler_deferred_total", {"reason": "outside_window", "outcome": "released"}
        )
        == (released or 0) + 1
    )
    state = await db[PROACTIVE_STATE].find_one({"_id": "u1"})
    assert state is not None
    assert (state["crisis_followup_count"], state["last_proactive_at"]) == (0, None)
    assert state["next_due_at"] == NEXT_MORNING
    assert state["claim"]["released_at"] == clock.now()

    assert (await scheduler.tick()).due == 0  # type: ignore[union-attr]
    clock.set(NEXT_MORNING)
    assert (await scheduler.tick()).sent == 1  # type: ignore[union-attr]
    [_, again] = await _due_events(db)
    assert again.idempotency_key == f"{first.idempotency_key}:deferred:1"
    assert (again.payload.kind, again.payload.stage, again.payload.due_at) == (
        "crisis_followup",
        1,
        NEXT_MORNING,
    )


async def test_a_deferral_that_comes_after_a_newer_claim_changes_nothing(
    db: Database, mongo_client: MongoClient
) -> None:
    """The SMS worker was down for days: by the time it defers stage 1 as late, the scheduler has
    emitted stage 2, which stands in for it (overdue stages collapse anyway)."""
    store, clock, outbox = await _setup(db, mongo_client)
    await ensure_indexes(db, inbox_indexes(14))
    crisis = MORNING - timedelta(days=1)
    await store.apply_profile(_profile(1, last_crisis_event_at=crisis), clock.now(), None)
    scheduler = _scheduler(db, outbox, clock)
    assert (await scheduler.tick()).sent == 1  # type: ignore[union-attr]
    clock.set(crisis + timedelta(days=3))
    assert (await scheduler.tick()).sent == 1  # type: ignore[union-attr]
    first, second = await _due_events(db)
    assert (first.payload.stage, second.payload.stage) == (1, 2)
    before = await db[PROACTIVE_STATE].find_one({"_id": "u1"})

    handlers = SchedulerHandlers(store, clock)
    superseded = REGISTRY.get_sample_value(
        "givecare_scheduler_deferred_total", {"reason": "late", "outcome": "superseded"}
    )
    await handlers.deferrals(_inbox(db, mongo_client, outbox))(
        _deferral(first, clock.now(), "late")
    )
    assert await db[PROACTIVE_STATE].find_one({"_id": "u1"}) == before
    assert (
        REGISTRY.get_sample_value(
            "givecare_scheduler_deferred_total", {"reason": "late", "outcome": "superseded"}
        )
        == (superseded or 0) + 1
    )


async def test_a_crisis_between_the_read_and_the_claim_wins(
    db: Database, mongo_client: MongoClient
) -> None:
    """The claim is a compare-and-set on the revision the decision read: a decision made from a
    state that changed meanwhile is not emitted, and the change's own next_due_at stands."""
    store, clock, outbox = await _setup(db, mongo_client)
    await store.apply_profile(
        _profile(1, last_crisis_event_at=MORNING - timedelta(days=2)), clock.now(), None
    )
    stale = await db[PROACTIVE_STATE].find_one({"_id": "u1"})
    assert stale is not None
    newer = MORNING - timedelta(minutes=5)
    await store.apply_crisis(
        CrisisDetected(user_id="u1", phone=PHONE, severity="high", detected_at=newer),
        clock.now(),
        None,
    )
    report = TickReport()
    await _scheduler(db, outbox, clock)._handle(stale, clock.now(), report)
    assert (report.sent, report.lost_races) == (0, 1)
    assert await _emitted(db) == []
    state = await db[PROACTIVE_STATE].find_one({"_id": "u1"})
    assert state is not None
    assert (state["last_crisis_event_at"], state["crisis_followup_count"]) == (newer, 0)
    assert state["next_due_at"] == newer + timedelta(days=1)
