"""The scheduler against a real database: the read model fed by events in transactions, ticks
that emit once per slot, the lease between replicas, overlapping claims, churn, deferrals from the
SMS worker through the real inbox, and the claim's compare-and-set and atomic emission."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import pytest
from prometheus_client import REGISTRY
from pymongo.asynchronous.client_session import AsyncClientSession

from services.scheduler.handlers import SchedulerHandlers
from services.scheduler.records import ProactiveRecord, TickReport
from services.scheduler.repositories import SCHEDULER_INDEXES
from services.scheduler.tick import Scheduler
from services.scheduler.unit_of_work import (
    MongoSchedulerStore,
    MongoSchedulerWork,
    SchedulerWork,
    scheduler_work,
)
from shared.broker.consumer import AlreadyProcessed
from shared.clock import ManualClock
from shared.events import Envelope, Payload, new_event
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
from shared.mongo import Database, Document, MongoClient, ensure_indexes
from shared.outbox import OUTBOX_COLLECTION, Outbox
from shared.unit_of_work import Transactions

pytestmark = pytest.mark.integration

P = TypeVar("P", bound=Payload)

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


class Real:
    """The scheduler's handlers, store and transactions on the test's database."""

    def __init__(self, db: Database, mongo_client: MongoClient, *, subscriptions: bool) -> None:
        self.db = db
        self.clock = ManualClock(MORNING)
        self.outbox = Outbox(db[OUTBOX_COLLECTION], self.clock)
        self.transactions = Transactions(mongo_client, self.outbox, scheduler_work(db))
        self.store = MongoSchedulerStore(db)
        self.handlers = SchedulerHandlers(self.clock, subscriptions_enabled=subscriptions)
        self.subscriptions = subscriptions

    def scheduler(
        self, holder: str = "a", transactions: Transactions[MongoSchedulerWork] | None = None
    ) -> Scheduler:
        return Scheduler(
            self.store,
            transactions or self.transactions,
            self.clock,
            holder=holder,
            batch_size=100,
            lease_seconds=30,
            subscriptions_enabled=self.subscriptions,
        )

    async def deliver(
        self, handler: Callable[[Envelope[P], SchedulerWork], Awaitable[None]], payload: P
    ) -> None:
        """`handler` in its own transaction, as the consumer runs it (without the inbox row)."""
        event = new_event(payload)
        await self.transactions.run(lambda uow: handler(event, uow))

    async def record(self) -> ProactiveRecord:
        record = await self.store.states.get("u1")
        assert record is not None
        return record

    def inbox(self) -> Inbox[MongoSchedulerWork]:
        return Inbox(
            self.transactions, self.db[INBOX_COLLECTION], self.clock, consumer="scheduler.events"
        )


@pytest.fixture
async def real(db: Database, mongo_client: MongoClient) -> Real:
    await ensure_indexes(db, {**SCHEDULER_INDEXES, **inbox_indexes(14)})
    return Real(db, mongo_client, subscriptions=False)


async def _emitted(db: Database) -> list[tuple[str, str]]:
    rows = db[OUTBOX_COLLECTION].find().sort("created_at", 1)
    return [(row["type"], EVENTS.decode(row["body"]).idempotency_key) async for row in rows]


async def test_crisis_followup_is_emitted_once_when_due_and_stages_advance(real: Real) -> None:
    crisis = MORNING - timedelta(hours=1)  # 09:00 local: its stages fall inside the window
    await real.deliver(real.handlers.profile_changed, _profile(1, last_crisis_event_at=crisis))
    assert (await real.record()).next_due_at == crisis + timedelta(days=1)

    scheduler = real.scheduler()
    assert (await scheduler.tick()).sent == 0  # type: ignore[union-attr]
    real.clock.set(crisis + timedelta(days=1))
    report = await scheduler.tick()
    assert report is not None
    assert (report.due, report.sent) == (1, 1)
    assert (await scheduler.tick()).due == 0  # type: ignore[union-attr]
    assert await _emitted(real.db) == [
        ("proactive.message.due", f"proactive:u1:crisis_followup:{crisis:%Y%m%dT%H%M%S}:1")
    ]
    record = await real.record()
    assert record.state.crisis_followup_count == 1
    assert record.next_due_at == crisis + timedelta(days=3)
    latest = await real.store.runs.latest()
    assert latest is not None
    assert (latest.started_at, latest.holder) == (real.clock.now(), "a")


async def test_a_second_replica_waits_for_the_lease_and_overlapping_claims_send_once(
    real: Real,
) -> None:
    await real.deliver(
        real.handlers.profile_changed,
        _profile(1, last_crisis_event_at=MORNING - timedelta(days=2)),
    )
    first, second = real.scheduler("replica-1"), real.scheduler("replica-2")
    assert await first.tick() is not None
    assert await second.tick() is None  # lease held
    # Even if the lease failed and both worked on the same read at once, one claim wins.
    real.clock.advance(timedelta(days=1))
    read = await real.record()
    one, two = TickReport(), TickReport()
    await asyncio.gather(
        first.process(read, real.clock.now(), one),
        second.process(read, real.clock.now(), two),
    )
    assert one.sent + two.sent == 1
    assert one.lost_races + two.lost_races == 1
    assert len(await _emitted(real.db)) == 2


async def test_opt_out_access_and_stale_snapshots(db: Database, mongo_client: MongoClient) -> None:
    await ensure_indexes(db, SCHEDULER_INDEXES)
    real = Real(db, mongo_client, subscriptions=True)
    # Access arrives before the profile: kept on a placeholder, merged when the profile comes.
    await real.deliver(
        real.handlers.access_changed,
        BillingAccessChanged(phone=PHONE, has_access=True, status="active", changed_at=MORNING),
    )
    await real.deliver(
        real.handlers.profile_changed,
        _profile(2, last_crisis_event_at=MORNING - timedelta(days=2)),
    )
    assert (await real.record()).state.has_access is True
    assert [r.user_id for r in await real.store.states.with_phone(PHONE)] == ["u1"]
    # An older snapshot changes nothing.
    await real.deliver(real.handlers.profile_changed, _profile(1, journey_phase="onboarding"))
    assert (await real.record()).state.journey_phase == "active"

    await real.deliver(
        real.handlers.opt_out_changed,
        SmsOptOutChanged(phone=PHONE, opted_out=True, source="keyword", changed_at=MORNING),
    )
    record = await real.record()
    assert (record.state.opted_out, record.next_due_at) == (True, None)
    assert (await real.scheduler().tick()).sent == 0  # type: ignore[union-attr]
    assert await _emitted(db) == []


async def test_a_new_crisis_restarts_the_cascade(real: Real) -> None:
    await real.deliver(
        real.handlers.profile_changed,
        _profile(1, last_crisis_event_at=MORNING - timedelta(days=20), crisis_followup_count=4),
    )
    await real.deliver(
        real.handlers.crisis_detected,
        CrisisDetected(user_id="u1", phone=PHONE, severity="high", detected_at=MORNING),
    )
    record = await real.record()
    assert (record.state.last_crisis_event_at, record.state.crisis_followup_count) == (MORNING, 0)
    assert record.next_due_at == MORNING + timedelta(days=1)


async def test_silence_after_the_last_reactivation_churns_once(real: Real) -> None:
    await real.deliver(
        real.handlers.profile_changed,
        _profile(1, burnout_band="thriving", last_contact_at=MORNING - timedelta(days=7)),
    )
    scheduler = real.scheduler()
    for _ in range(40):  # forty mornings of silence
        await scheduler.tick()
        real.clock.advance(timedelta(days=1))
    emitted = await _emitted(real.db)
    kinds = [key.split(":")[2] + ":" + key.split(":")[-1] for _, key in emitted[:-1]]
    assert kinds == ["reactivation:1", "reactivation:2", "reactivation:3"]
    assert emitted[-1][0] == "user.churned"
    assert (await real.record()).state.journey_phase == "churned"


# --- deferrals, compare-and-set, the atomic claim ------------------------------------------

# 19:59 in New York: the window's last minute; 20:30 it has closed.
LAST_MINUTE = datetime(2026, 1, 16, 0, 59, tzinfo=UTC)
NEXT_MORNING = datetime(2026, 1, 16, 14, 0, tzinfo=UTC)  # 09:00 in New York


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


def _deferred(reason: str, outcome: str) -> float:
    labels = {"reason": reason, "outcome": outcome}
    return REGISTRY.get_sample_value("givecare_scheduler_deferred_total", labels) or 0


async def test_a_deferred_message_goes_out_in_the_next_window_under_a_new_key(
    real: Real,
) -> None:
    """Emitted at 19:59, consumed by the SMS worker at 20:30: the worker defers it, the scheduler
    gives back the slot and the stage, and the same stage is emitted at 09:00 the next day."""
    crisis = LAST_MINUTE - timedelta(days=1)
    await real.deliver(real.handlers.profile_changed, _profile(1, last_crisis_event_at=crisis))
    real.clock.set(LAST_MINUTE)
    scheduler = real.scheduler()
    assert (await scheduler.tick()).sent == 1  # type: ignore[union-attr]
    [first] = await _due_events(real.db)
    state = (await real.record()).state
    assert (state.crisis_followup_count, state.last_proactive_at) == (1, LAST_MINUTE)

    real.clock.set(LAST_MINUTE + timedelta(minutes=31))
    deliver = real.handlers.counted_deferrals(
        real.inbox().idempotent(real.handlers.proactive_deferred)
    )
    released = _deferred("outside_window", "released")
    deferral = _deferral(first, real.clock.now())
    await deliver(deferral)
    with pytest.raises(AlreadyProcessed):
        await deliver(deferral)  # a redelivery changes nothing
    assert _deferred("outside_window", "released") == released + 1
    record = await real.record()
    assert (record.state.crisis_followup_count, record.state.last_proactive_at) == (0, None)
    assert record.next_due_at == NEXT_MORNING
    assert record.claim is not None
    assert record.claim.released_at == real.clock.now()

    assert (await scheduler.tick()).due == 0  # type: ignore[union-attr]
    real.clock.set(NEXT_MORNING)
    assert (await scheduler.tick()).sent == 1  # type: ignore[union-attr]
    [_, again] = await _due_events(real.db)
    assert again.idempotency_key == f"{first.idempotency_key}:deferred:1"
    assert (again.payload.kind, again.payload.stage, again.payload.due_at) == (
        "crisis_followup",
        1,
        NEXT_MORNING,
    )


async def test_a_deferral_that_comes_after_a_newer_claim_changes_nothing(real: Real) -> None:
    """The SMS worker was down for days: by the time it defers stage 1 as late, the scheduler has
    emitted stage 2, which stands in for it (overdue stages collapse anyway)."""
    crisis = MORNING - timedelta(days=1)
    await real.deliver(real.handlers.profile_changed, _profile(1, last_crisis_event_at=crisis))
    scheduler = real.scheduler()
    assert (await scheduler.tick()).sent == 1  # type: ignore[union-attr]
    real.clock.set(crisis + timedelta(days=3))
    assert (await scheduler.tick()).sent == 1  # type: ignore[union-attr]
    first, second = await _due_events(real.db)
    assert (first.payload.stage, second.payload.stage) == (1, 2)
    before = await real.record()

    superseded = _deferred("late", "superseded")
    deliver = real.handlers.counted_deferrals(
        real.inbox().idempotent(real.handlers.proactive_deferred)
    )
    await deliver(_deferral(first, real.clock.now(), "late"))
    assert await real.record() == before
    assert _deferred("late", "superseded") == superseded + 1


async def test_a_crisis_between_the_read_and_the_claim_wins(real: Real) -> None:
    """The claim is a compare-and-set on the revision the decision read: a decision made from a
    state that changed meanwhile is not emitted, and the change's own next_due_at stands."""
    await real.deliver(
        real.handlers.profile_changed,
        _profile(1, last_crisis_event_at=MORNING - timedelta(days=2)),
    )
    stale = await real.record()
    newer = MORNING - timedelta(minutes=5)
    await real.deliver(
        real.handlers.crisis_detected,
        CrisisDetected(user_id="u1", phone=PHONE, severity="high", detected_at=newer),
    )
    report = TickReport()
    await real.scheduler().process(stale, real.clock.now(), report)
    assert (report.sent, report.lost_races) == (0, 1)
    assert await _emitted(real.db) == []
    record = await real.record()
    assert (record.state.last_crisis_event_at, record.state.crisis_followup_count) == (newer, 0)
    assert record.next_due_at == newer + timedelta(days=1)


class Crash(Exception):
    """The scheduler died here."""


async def test_a_tick_that_dies_after_writing_the_claim_and_its_outbox_row_leaves_neither(
    real: Real, mongo_client: MongoClient
) -> None:
    """Both writes are in one transaction: a crash before the commit takes both back, and the
    next tick makes the same claim."""

    class Dying(MongoSchedulerWork):
        async def flush(self, *, claimed: bool, marks: Sequence[str] = ()) -> list[Document]:
            # The outbox row is written, then the crash.
            await super().flush(claimed=claimed, marks=marks)
            raise Crash

    def dying(session: AsyncClientSession, outbox: Outbox) -> MongoSchedulerWork:
        return Dying(real.db, session, outbox)

    await real.deliver(
        real.handlers.profile_changed,
        _profile(1, last_crisis_event_at=MORNING - timedelta(days=2)),
    )
    before = await real.record()
    crashing = real.scheduler(transactions=Transactions(mongo_client, real.outbox, dying))
    with pytest.raises(Crash):
        await crashing.tick()
    assert await real.record() == before
    assert await _emitted(real.db) == []
    assert (await real.scheduler().tick()).sent == 1  # type: ignore[union-attr]
    assert len(await _emitted(real.db)) == 1
