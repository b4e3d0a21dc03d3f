"""The scheduler against a real database: the read model fed by events in transactions, ticks
that emit once per slot, the lease between replicas, overlapping claims, churn, deferrals from the
SMS worker through the real inbox, and the claim's compare-and-set and atomic emission."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import pytest
from prometheus_client import REGISTRY
from pymongo.asynchronous.client_session import AsyncClientSession

from services.scheduler.handlers import SchedulerHandlers
from services.scheduler.records import ProactiveRecord, TickReport, placeholder_id
from services.scheduler.repositories import (
    PROACTIVE_STATE,
    SCHEDULER_INDEXES,
    MongoProactiveStates,
)
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
from shared.inbox import INBOX_COLLECTION, Inbox, inbox_indexes, replay_safe
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

    def snapshots(self) -> Callable[[Envelope[UserProfileChanged]], Awaitable[None]]:
        """`user.profile.changed` wired as `services/scheduler/__main__.py` wires it."""
        return replay_safe(
            self.handlers.profile_snapshots(
                MongoProactiveStates(self.db, None),
                self.inbox().idempotent(self.handlers.profile_changed),
            )
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


# --- profile snapshots outside the inbox's transaction -------------------------------------

OTHER_PHONE = "+15551239999"


def _commands() -> Counter[tuple[str, str]]:
    """This process's database commands so far, by command and collection."""
    counts: Counter[tuple[str, str]] = Counter()
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name == "givecare_mongo_commands_total":
                labels = sample.labels
                counts[labels["command"], labels["collection"]] += int(sample.value)
    return counts


async def _commands_of(action: Awaitable[None]) -> Counter[tuple[str, str]]:
    before = _commands()
    await action
    return _commands() - before


async def test_a_first_snapshot_is_two_commands_and_a_takeover_stays_in_a_transaction(
    db: Database, mongo_client: MongoClient
) -> None:
    """A new user's first snapshot: one read of the record and the number's placeholder, one
    insert — no inbox row, no transaction (it was 6: the read, then inbox insert, two reads,
    the save and the commit). A later snapshot is the same read and a compare-and-set. A
    number whose access arrived before its user takes its placeholder over in the inbox's
    transaction."""
    await ensure_indexes(db, {**SCHEDULER_INDEXES, **inbox_indexes(14)})
    real = Real(db, mongo_client, subscriptions=True)
    handle = real.snapshots()
    direct = Counter({("find", PROACTIVE_STATE): 1, ("update", PROACTIVE_STATE): 1})

    assert await _commands_of(handle(new_event(_profile(1)))) == direct
    assert (await real.record()).profile_version == 1
    assert await _commands_of(handle(new_event(_profile(2, burnout_band="high")))) == direct
    assert (await real.record()).state.band == "high"
    assert await db[INBOX_COLLECTION].count_documents({}) == 0

    await real.deliver(
        real.handlers.access_changed,
        BillingAccessChanged(
            phone=OTHER_PHONE, has_access=True, status="active", changed_at=MORNING
        ),
    )
    takeover = handle(new_event(_profile(1, user_id="u2", phone=OTHER_PHONE)))
    assert await _commands_of(takeover) == Counter(
        {
            ("find", PROACTIVE_STATE): 2,
            ("insert", INBOX_COLLECTION): 1,
            ("delete", PROACTIVE_STATE): 1,
            ("update", PROACTIVE_STATE): 1,
            ("commitTransaction", "-"): 1,
        }
    )
    assert [r.user_id for r in await real.store.states.with_phone(OTHER_PHONE)] == ["u2"]
    assert (await real.store.states.get("u2")).state.has_access is True  # type: ignore[union-attr]


async def test_racing_first_snapshots_end_with_the_newest(real: Real) -> None:
    """Two versions of each of 20 new users' first snapshot at once: whichever inserts first,
    the other's insert finds the record, reads it again and applies only if newer."""
    handle = real.snapshots()
    users = [(f"r{n}", f"+1555000{n:04d}") for n in range(20)]
    versions = [(1, 2) if n % 2 else (2, 1) for n in range(len(users))]
    await asyncio.gather(
        *(
            handle(new_event(_profile(version, user_id=user, phone=phone, burnout_band="high")))
            for (user, phone), order in zip(users, versions, strict=True)
            for version in order
        )
    )
    for user, _ in users:
        record = await real.store.states.get(user)
        assert record is not None
        assert record.profile_version == 2
    assert await real.db[INBOX_COLLECTION].count_documents({}) == 0


@pytest.mark.parametrize("path", ["direct", "transaction"])
async def test_billing_racing_a_first_snapshot_leaves_a_placeholder_the_next_snapshot_takes(
    db: Database, mongo_client: MongoClient, path: str
) -> None:
    """Billing's transaction reads the number's records before the user's record exists, and
    writes its placeholder after the first snapshot read that there was none. Under snapshot
    isolation both commit — they write different documents — whether the first snapshot is
    the direct insert or, as before it, `profile_changed` in a transaction: the direct path
    loses nothing the transactional one did not. The user's next snapshot (here a replay of
    the first) finds the placeholder beside the record and folds it in."""
    await ensure_indexes(db, {**SCHEDULER_INDEXES, **inbox_indexes(14)})
    real = Real(db, mongo_client, subscriptions=True)
    handle = real.snapshots()
    first = new_event(_profile(1, last_crisis_event_at=MORNING - timedelta(days=2)))
    access = new_event(
        BillingAccessChanged(phone=PHONE, has_access=True, status="active", changed_at=MORNING)
    )
    raced = False

    async def billing(uow: SchedulerWork) -> None:
        nonlocal raced
        await uow.states.with_phone(PHONE)  # the transaction's snapshot: no record of PHONE
        if not raced:
            raced = True
            if path == "direct":
                await handle(first)
            else:
                await real.transactions.run(lambda w: real.handlers.profile_changed(first, w))
        await real.handlers.access_changed(access, uow)

    await real.transactions.run(billing)
    record = await real.record()
    assert (record.state.has_access, record.next_due_at) == (False, None)
    placeholder = placeholder_id(PHONE)
    stored = {r.user_id for r in await real.store.states.with_phone(PHONE)}
    assert stored == {"u1", placeholder}

    await handle(first)
    assert [r.user_id for r in await real.store.states.with_phone(PHONE)] == ["u1"]
    record = await real.record()
    assert (record.state.has_access, record.access_changed_at, record.profile_version) == (
        True,
        MORNING,
        1,
    )
    assert record.next_due_at == MORNING


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
