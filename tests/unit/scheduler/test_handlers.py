"""Every scheduler handler, and the tick's decide/claim/emit path, against the in-memory unit of
work: what each event does to a user's record and what the tick emits, in milliseconds. The
same repositories' behaviour on the real server is held to the fake's by the contract tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import pytest
from prometheus_client import REGISTRY

from domain.proactive_policy import next_window_moment
from services.scheduler.handlers import ReleaseOutcome, SchedulerHandlers
from services.scheduler.metrics import SCHEDULER_LAST_TICK
from services.scheduler.records import ProactiveRecord, TickReport, placeholder_id
from services.scheduler.tick import Scheduler
from services.scheduler.unit_of_work import SchedulerWork
from shared.clock import ManualClock
from shared.events import Envelope, Payload, new_event
from shared.events.catalog import (
    BillingAccessChanged,
    CrisisDetected,
    ProactiveMessageDeferred,
    ProactiveMessageDue,
    SmsOptOutChanged,
    UserChurned,
    UserProfileChanged,
)
from tests.fakes.inbox import FakeInbox
from tests.fakes.scheduler import FakeSchedulerWork

P = TypeVar("P", bound=Payload)

# 15:00 UTC on a January day = 10:00 in New York.
MORNING = datetime(2026, 1, 15, 15, 0, tzinfo=UTC)
# 19:59 in New York: the window's last minute.
LAST_MINUTE = datetime(2026, 1, 16, 0, 59, tzinfo=UTC)
PHONE = "+15551230000"
NY = "America/New_York"


def _profile(version: int, **changes: Any) -> UserProfileChanged:
    fields: dict[str, Any] = {
        "user_id": "u1",
        "phone": PHONE,
        "version": version,
        "journey_phase": "active",
        "timezone": NY,
        "burnout_band": "mild",
        "last_contact_at": MORNING - timedelta(hours=1),
        "changed_at": MORNING,
        **changes,
    }
    return UserProfileChanged(**fields)


class World:
    """The fake unit of work, a manual clock, the handlers and a scheduler over them."""

    def __init__(self, *, subscriptions_enabled: bool = False) -> None:
        self.work = FakeSchedulerWork()
        self.clock = ManualClock(MORNING)
        self.handlers = SchedulerHandlers(self.clock, subscriptions_enabled=subscriptions_enabled)
        self.subscriptions_enabled = subscriptions_enabled

    def scheduler(self, holder: str = "a") -> Scheduler:
        return Scheduler(
            self.work,
            self.work,
            self.clock,
            holder=holder,
            batch_size=100,
            lease_seconds=30,
            subscriptions_enabled=self.subscriptions_enabled,
        )

    async def deliver(
        self,
        handler: Callable[[Envelope[P], SchedulerWork], Awaitable[None]],
        event: Envelope[P] | P,
    ) -> None:
        """Run `handler` in one transaction, as the inbox does."""
        envelope = event if isinstance(event, Envelope) else new_event(event)
        await self.work.run(lambda uow: handler(envelope, uow))

    async def record(self, user_id: str = "u1") -> ProactiveRecord:
        record = await self.work.states.get(user_id)
        assert record is not None, user_id
        return record

    def due_keys(self) -> list[str]:
        return [
            e.idempotency_key
            for e in self.work.emitted
            if isinstance(e.payload, ProactiveMessageDue)
        ]


# --- user.profile.changed ------------------------------------------------------------------


async def test_a_profile_creates_the_record_and_schedules_its_first_follow_up() -> None:
    world = World()
    crisis = MORNING - timedelta(hours=1)
    await world.deliver(world.handlers.profile_changed, _profile(1, last_crisis_event_at=crisis))
    record = await world.record()
    assert (record.phone, record.profile_version, record.revision) == (PHONE, 1, 1)
    assert (record.state.journey_phase, record.state.timezone, record.state.band) == (
        "active",
        NY,
        "mild",
    )
    assert record.state.has_access is False  # billing has not said otherwise
    assert record.next_due_at == crisis + timedelta(days=1)


async def test_an_older_or_repeated_snapshot_changes_nothing() -> None:
    world = World()
    await world.deliver(world.handlers.profile_changed, _profile(2))
    before = await world.record()
    await world.deliver(world.handlers.profile_changed, _profile(1, journey_phase="onboarding"))
    await world.deliver(world.handlers.profile_changed, _profile(2, journey_phase="churned"))
    assert await world.record() == before


async def test_snapshots_without_a_placeholder_skip_the_transaction_and_end_where_it_does() -> None:
    direct, inboxed = World(), World()
    in_transaction: list[int] = []

    async def transaction(event: Envelope[UserProfileChanged]) -> None:
        in_transaction.append(event.payload.version)
        await direct.deliver(direct.handlers.profile_changed, event)

    handle = direct.handlers.profile_snapshots(direct.work.states, transaction)
    snapshots = [
        _profile(1),
        _profile(3, journey_phase="onboarding", last_contact_at=MORNING),
        _profile(2, journey_phase="churned"),  # older: changes nothing
        _profile(3, journey_phase="churned"),  # a repeat: changes nothing
        _profile(4, last_crisis_event_at=MORNING),
    ]
    for snapshot in snapshots:
        await handle(new_event(snapshot))
        await inboxed.deliver(inboxed.handlers.profile_changed, snapshot)

    assert in_transaction == []  # the first snapshot too: an insert of the new record
    assert await direct.record() == await inboxed.record()
    assert (await direct.record()).profile_version == 4


async def test_a_snapshot_reads_again_when_the_record_moved_under_it() -> None:
    world = World()
    await world.deliver(world.handlers.profile_changed, _profile(1))
    states = world.work.states
    moved = False

    async def save_after_a_tick(record: ProactiveRecord) -> bool:
        nonlocal moved
        if not moved:  # a tick's claim saved the record between the read and this write
            moved = True
            await type(states).save(states, await world.record())
        return await type(states).save(states, record)

    states.save = save_after_a_tick  # type: ignore[method-assign]
    handle = world.handlers.profile_snapshots(states, _never)
    await handle(new_event(_profile(2, journey_phase="onboarding")))
    record = await world.record()
    assert (record.profile_version, record.state.journey_phase, record.revision) == (
        2,
        "onboarding",
        3,
    )


async def _never(event: Envelope[UserProfileChanged]) -> None:
    raise AssertionError("a snapshot without a placeholder went to the transaction")


class Snapshots:
    """`profile_snapshots` wired as the scheduler wires it, with `profile_changed` in the
    inbox's transaction behind it; `in_transaction` notes the versions that went there."""

    def __init__(self, world: World) -> None:
        self.in_transaction: list[int] = []
        inboxed = FakeInbox(world.work).idempotent(world.handlers.profile_changed)

        async def transaction(event: Envelope[UserProfileChanged]) -> None:
            self.in_transaction.append(event.payload.version)
            await inboxed(event)

        self.handle = world.handlers.profile_snapshots(world.work.states, transaction)


async def test_a_first_snapshot_inserts_the_record_without_an_inbox_row() -> None:
    world, inboxed = World(), World()
    snapshots = Snapshots(world)
    crisis = MORNING - timedelta(hours=1)
    first = new_event(_profile(1, last_crisis_event_at=crisis))
    await snapshots.handle(first)
    assert snapshots.in_transaction == []
    record = await world.record()
    assert (record.phone, record.profile_version, record.revision) == (PHONE, 1, 1)
    assert record.next_due_at == crisis + timedelta(days=1)
    # The record the transactional path makes.
    await inboxed.deliver(inboxed.handlers.profile_changed, first)
    assert record == await inboxed.record()


async def test_a_replayed_first_snapshot_changes_nothing() -> None:
    world = World()
    snapshots = Snapshots(world)
    first = new_event(_profile(1))
    await snapshots.handle(first)
    created = await world.record()
    # A redelivery, and the same snapshot published again under a new event id (an outbox
    # row whose sent mark was lost): the record holds its version already.
    await snapshots.handle(first)
    await snapshots.handle(new_event(first.payload))
    assert await world.record() == created
    assert snapshots.in_transaction == []


async def test_a_first_snapshot_that_finds_a_placeholder_takes_it_over_in_the_transaction() -> None:
    world = World(subscriptions_enabled=True)
    await world.deliver(world.handlers.access_changed, _access(True))
    snapshots = Snapshots(world)
    first = new_event(_profile(1, last_crisis_event_at=MORNING - timedelta(days=2)))
    await snapshots.handle(first)
    assert snapshots.in_transaction == [1]
    assert await world.work.states.get(placeholder_id(PHONE)) is None
    record = await world.record()
    assert (record.state.has_access, record.access_changed_at, record.revision) == (
        True,
        MORNING,
        1,
    )
    assert record.next_due_at == MORNING  # access granted: the follow-up is due now
    # A redelivery finds the record and no placeholder: no transaction, nothing changes.
    await snapshots.handle(first)
    assert snapshots.in_transaction == [1]
    assert await world.record() == record


@pytest.mark.parametrize(("slow", "fast"), [(1, 2), (2, 1)])
async def test_two_racing_first_snapshots_end_with_the_newest(slow: int, fast: int) -> None:
    """Both read "no record"; `fast` inserts first, `slow`'s insert finds its record, and
    `slow` reads again and applies only if it is the newer."""
    world, alone = World(), World()
    snapshots = {
        1: _profile(1, journey_phase="onboarding", burnout_band="high"),
        2: _profile(2, last_contact_at=MORNING, last_crisis_event_at=MORNING),
    }
    states = world.work.states
    handle = world.handlers.profile_snapshots(states, _never)
    raced = False

    async def read_and_lose_the_race(user_ids: Collection[str]) -> dict[str, ProactiveRecord]:
        nonlocal raced
        found = await type(states).get_many(states, user_ids)
        if not raced:  # the other snapshot reads and inserts before this one writes
            raced = True
            await handle(new_event(snapshots[fast]))
        return found

    states.get_many = read_and_lose_the_race  # type: ignore[method-assign]
    await handle(new_event(snapshots[slow]))

    await alone.deliver(alone.handlers.profile_changed, snapshots[2])
    record, newest = await world.record(), await alone.record()
    assert (record.profile_version, record.state, record.next_due_at) == (
        2,
        newest.state,
        newest.next_due_at,
    )
    assert record.revision == (2 if slow == 2 else 1)  # the older one, second, wrote nothing


async def test_access_that_raced_a_first_snapshot_is_taken_over_by_the_next_snapshot() -> None:
    """Billing finds no record of the number and keeps its access on a placeholder, while the
    first snapshot, which read before the placeholder was there, inserts the record: each
    missed the other's write. (The transactional path misses it the same way on the real
    server: `test_billing_racing_a_first_snapshot_...` in the integration tests.) The user's
    next snapshot, even a replay of the first, finds both and folds the placeholder in."""
    world = World(subscriptions_enabled=True)
    snapshots = Snapshots(world)
    states = world.work.states
    raced = False

    async def read_then_billing(user_ids: Collection[str]) -> dict[str, ProactiveRecord]:
        nonlocal raced
        found = await type(states).get_many(states, user_ids)
        if not raced:
            raced = True
            await world.deliver(world.handlers.access_changed, _access(True))
        return found

    states.get_many = read_then_billing  # type: ignore[method-assign]
    first = new_event(_profile(1, last_crisis_event_at=MORNING - timedelta(days=2)))
    await snapshots.handle(first)
    record = await world.record()
    assert (record.state.has_access, record.next_due_at) == (False, None)
    assert (await world.record(placeholder_id(PHONE))).state.has_access is True

    await snapshots.handle(first)
    assert snapshots.in_transaction == [1]
    assert await states.get(placeholder_id(PHONE)) is None
    record = await world.record()
    assert (record.state.has_access, record.access_changed_at, record.profile_version) == (
        True,
        MORNING,
        1,
    )
    assert record.next_due_at == MORNING


async def test_a_snapshot_never_moves_the_schedulers_counters_back_unless_it_starts_anew() -> None:
    world = World()
    crisis = MORNING - timedelta(days=4)
    contact = MORNING - timedelta(days=10)
    await world.deliver(
        world.handlers.profile_changed,
        _profile(1, last_crisis_event_at=crisis, last_contact_at=contact),
    )
    # What the tick advanced since the snapshot.
    advanced = (await world.record()).with_state(crisis_followup_count=2, reactivation_count=1)
    assert await world.work.states.save(advanced)

    # The same crisis and silence, in an older view: the counters stay.
    await world.deliver(
        world.handlers.profile_changed,
        _profile(2, last_crisis_event_at=crisis, last_contact_at=contact, crisis_followup_count=1),
    )
    state = (await world.record()).state
    assert (state.crisis_followup_count, state.reactivation_count) == (2, 1)

    # A newer crisis restarts the follow-ups; a reply restarts the silence from the snapshot.
    await world.deliver(
        world.handlers.profile_changed,
        _profile(3, last_crisis_event_at=MORNING, last_contact_at=MORNING),
    )
    state = (await world.record()).state
    assert (state.last_crisis_event_at, state.crisis_followup_count) == (MORNING, 0)
    assert (state.last_contact_at, state.reactivation_count) == (MORNING, 0)


# --- sms.optout.changed, billing.access.changed -----------------------------------------


def _access(has_access: bool, at: datetime = MORNING) -> BillingAccessChanged:
    return BillingAccessChanged(phone=PHONE, has_access=has_access, status="x", changed_at=at)


def _opt_out(opted_out: bool, at: datetime = MORNING) -> SmsOptOutChanged:
    return SmsOptOutChanged(phone=PHONE, opted_out=opted_out, source="keyword", changed_at=at)


async def test_access_before_the_profile_waits_on_a_placeholder_the_profile_takes_over() -> None:
    world = World(subscriptions_enabled=True)
    await world.deliver(world.handlers.access_changed, _access(True))
    placeholder = await world.record(placeholder_id(PHONE))
    assert (placeholder.state.has_access, placeholder.next_due_at) == (True, None)
    assert await world.work.states.due(MORNING + timedelta(days=365), 10) == []

    await world.deliver(
        world.handlers.profile_changed,
        _profile(1, last_crisis_event_at=MORNING - timedelta(days=2)),
    )
    assert await world.work.states.get(placeholder_id(PHONE)) is None
    record = await world.record()
    assert (record.state.has_access, record.access_changed_at) == (True, MORNING)
    assert record.next_due_at == MORNING  # access granted: the follow-up is due now


async def test_without_access_nothing_is_scheduled_when_subscriptions_are_on() -> None:
    world = World(subscriptions_enabled=True)
    await world.deliver(
        world.handlers.profile_changed,
        _profile(1, last_crisis_event_at=MORNING - timedelta(days=2)),
    )
    assert (await world.record()).next_due_at is None
    await world.deliver(world.handlers.access_changed, _access(True))
    assert (await world.record()).next_due_at == MORNING
    # An older change arriving late loses to the newer one.
    await world.deliver(world.handlers.access_changed, _access(False, MORNING - timedelta(hours=1)))
    assert (await world.record()).state.has_access is True


async def test_the_newest_opt_out_wins_and_an_opted_out_user_is_never_due() -> None:
    world = World()
    await world.deliver(
        world.handlers.profile_changed,
        _profile(1, last_crisis_event_at=MORNING - timedelta(days=2)),
    )
    revision = (await world.record()).revision
    await world.deliver(world.handlers.opt_out_changed, _opt_out(True))
    record = await world.record()
    assert (record.state.opted_out, record.opt_out_changed_at, record.next_due_at) == (
        True,
        MORNING,
        None,
    )
    assert record.revision == revision + 1
    await world.deliver(world.handlers.opt_out_changed, _opt_out(False, MORNING - timedelta(1)))
    assert (await world.record()).state.opted_out is True
    await world.deliver(world.handlers.opt_out_changed, _opt_out(False, MORNING + timedelta(1)))
    assert (await world.record()).next_due_at == MORNING


# --- crisis.detected ------------------------------------------------------------------------


async def test_a_newer_high_crisis_restarts_the_cascade_and_others_do_not() -> None:
    world = World()
    old = MORNING - timedelta(days=20)
    await world.deliver(
        world.handlers.profile_changed,
        _profile(1, last_crisis_event_at=old, crisis_followup_count=4),
    )
    before = await world.record()

    def crisis(severity: Literal["high", "medium"], at: datetime) -> CrisisDetected:
        return CrisisDetected(user_id="u1", phone=PHONE, severity=severity, detected_at=at)

    await world.deliver(world.handlers.crisis_detected, crisis("medium", MORNING))
    await world.deliver(world.handlers.crisis_detected, crisis("high", old - timedelta(1)))
    assert await world.record() == before
    await world.deliver(
        world.handlers.crisis_detected,
        CrisisDetected(user_id="nobody", phone=PHONE, severity="high", detected_at=MORNING),
    )
    assert await world.work.states.get("nobody") is None

    await world.deliver(world.handlers.crisis_detected, crisis("high", MORNING))
    record = await world.record()
    assert (record.state.last_crisis_event_at, record.state.crisis_followup_count) == (MORNING, 0)
    assert record.next_due_at == MORNING + timedelta(days=1)


# --- the tick -------------------------------------------------------------------------------


async def test_a_due_follow_up_is_claimed_and_emitted_once_and_the_run_is_logged() -> None:
    world = World()
    crisis = MORNING - timedelta(hours=1)
    await world.deliver(world.handlers.profile_changed, _profile(1, last_crisis_event_at=crisis))
    scheduler = world.scheduler()
    report = await scheduler.tick()
    assert report is not None
    assert (report.due, report.sent) == (0, 0)

    world.clock.set(crisis + timedelta(days=1))
    report = await scheduler.tick()
    assert report is not None
    assert (report.due, report.sent) == (1, 1)
    assert (await scheduler.tick()).due == 0  # type: ignore[union-attr]
    assert world.due_keys() == [f"proactive:u1:crisis_followup:{crisis:%Y%m%dT%H%M%S}:1"]
    [due] = world.work.emitted_payloads(ProactiveMessageDue)
    assert (due.kind, due.stage, due.due_at, due.phone) == (
        "crisis_followup",
        1,
        world.clock.now(),
        PHONE,
    )

    record = await world.record()
    assert (record.state.crisis_followup_count, record.state.last_proactive_at) == (
        1,
        world.clock.now(),
    )
    assert record.claim is not None
    assert record.claim.taken.key == world.due_keys()[0]
    assert record.next_due_at == crisis + timedelta(days=3)
    latest = await world.work.runs.latest()
    assert latest is not None
    assert (latest.started_at, latest.holder, latest.report.due) == (world.clock.now(), "a", 0)


async def test_a_user_due_outside_the_window_is_rescheduled_to_the_next_morning() -> None:
    world = World()
    crisis = LAST_MINUTE - timedelta(days=1, minutes=-2)  # stage 1 falls due at 20:01
    await world.deliver(world.handlers.profile_changed, _profile(1, last_crisis_event_at=crisis))
    record = await world.record()
    # Stored early, as `next_due_at` may be: the tick finds the window closed.
    assert await world.work.states.set_next_due(record, crisis + timedelta(days=1))
    world.clock.set(crisis + timedelta(days=1))
    report = await world.scheduler().tick()
    assert report is not None
    assert (report.due, report.skipped, report.sent) == (1, 1, 0)
    assert (await world.record()).next_due_at == next_window_moment(world.clock.now(), NY)
    assert world.work.emitted == []


async def test_a_second_replica_waits_for_the_lease_until_it_runs_out() -> None:
    world = World()
    first, second = world.scheduler("replica-1"), world.scheduler("replica-2")
    assert await first.tick() is not None
    assert await second.tick() is None
    world.clock.advance(timedelta(seconds=30))
    assert await second.tick() is not None
    assert await first.tick() is None


async def test_only_a_tick_that_held_the_lease_moves_the_last_tick_gauge() -> None:
    world = World()
    first, second = world.scheduler("replica-1"), world.scheduler("replica-2")
    SCHEDULER_LAST_TICK.set(0)
    assert await first.tick() is not None
    ticked = REGISTRY.get_sample_value("givecare_scheduler_last_tick_timestamp_seconds")
    assert ticked is not None
    assert ticked > 0
    SCHEDULER_LAST_TICK.set(0)
    assert await second.tick() is None  # waiting for the lease is not a tick
    assert REGISTRY.get_sample_value("givecare_scheduler_last_tick_timestamp_seconds") == 0


async def test_overlapping_replicas_working_on_one_read_send_once() -> None:
    """Even without the lease, two claims from the same read: one wins, one event."""
    world = World()
    await world.deliver(
        world.handlers.profile_changed,
        _profile(1, last_crisis_event_at=MORNING - timedelta(days=2)),
    )
    read = await world.record()
    one, two = TickReport(), TickReport()
    await world.scheduler("replica-1").process(read, MORNING, one)
    await world.scheduler("replica-2").process(read, MORNING, two)
    assert (one.sent, one.lost_races, two.sent, two.lost_races) == (1, 0, 0, 1)
    assert len(world.due_keys()) == 1


async def test_a_crisis_between_the_read_and_the_claim_wins() -> None:
    """The claim is a compare-and-set on the revision the decision read: a decision made from a
    state that changed meanwhile is not emitted, and the change's own next_due_at stands."""
    world = World()
    await world.deliver(
        world.handlers.profile_changed,
        _profile(1, last_crisis_event_at=MORNING - timedelta(days=2)),
    )
    stale = await world.record()
    newer = MORNING - timedelta(minutes=5)
    await world.deliver(
        world.handlers.crisis_detected,
        CrisisDetected(user_id="u1", phone=PHONE, severity="high", detected_at=newer),
    )
    after_crisis = await world.record()
    report = TickReport()
    await world.scheduler().process(stale, MORNING, report)
    assert (report.sent, report.lost_races) == (0, 1)
    assert world.work.emitted == []
    assert await world.record() == after_crisis
    assert after_crisis.next_due_at == newer + timedelta(days=1)


async def test_a_claim_whose_emission_fails_leaves_nothing_and_is_made_next_tick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World()
    await world.deliver(
        world.handlers.profile_changed,
        _profile(1, last_crisis_event_at=MORNING - timedelta(days=2)),
    )
    before = await world.record()

    class Crash(Exception):
        """The scheduler died between the claim and its outbox row."""

    async def crash(event: Envelope[Any]) -> None:
        raise Crash

    monkeypatch.setattr(world.work, "emit", crash)
    with pytest.raises(Crash):
        await world.scheduler().tick()
    monkeypatch.undo()
    assert await world.record() == before
    assert world.work.emitted == []
    report = await world.scheduler().tick()
    assert report is not None
    assert report.sent == 1
    assert len(world.due_keys()) == 1


async def test_silence_after_the_last_reactivation_churns_once() -> None:
    world = World()
    await world.deliver(
        world.handlers.profile_changed,
        _profile(1, burnout_band="thriving", last_contact_at=MORNING - timedelta(days=7)),
    )
    scheduler = world.scheduler()
    for _ in range(40):  # forty mornings of silence
        await scheduler.tick()
        world.clock.advance(timedelta(days=1))
    stages = [key.rsplit(":", 1)[-1] for key in world.due_keys()]
    assert stages == ["1", "2", "3"]
    [churned] = world.work.emitted_payloads(UserChurned)
    record = await world.record()
    assert (record.state.journey_phase, record.churned_at, record.next_due_at) == (
        "churned",
        churned.churned_at,
        None,
    )
    assert isinstance(world.work.emitted[-1].payload, UserChurned)


# --- proactive.message.deferred ------------------------------------------------------------


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


def _deferred_count(reason: str, outcome: ReleaseOutcome) -> float:
    labels = {"reason": reason, "outcome": outcome.value}
    return REGISTRY.get_sample_value("givecare_scheduler_deferred_total", labels) or 0


async def test_a_deferral_gives_back_the_slot_and_the_stage_once() -> None:
    world = World()
    await world.deliver(
        world.handlers.profile_changed,
        _profile(1, last_crisis_event_at=LAST_MINUTE - timedelta(days=1)),
    )
    world.clock.set(LAST_MINUTE)
    assert (await world.scheduler().tick()).sent == 1  # type: ignore[union-attr]
    [first] = world.work.emitted
    claimed = (await world.record()).claim
    assert claimed is not None

    world.clock.set(LAST_MINUTE + timedelta(minutes=31))
    deliver = world.handlers.counted_deferrals(
        lambda event: world.deliver(world.handlers.proactive_deferred, event)
    )
    released = _deferred_count("outside_window", ReleaseOutcome.RELEASED)
    again = _deferred_count("outside_window", ReleaseOutcome.ALREADY_RELEASED)
    await deliver(_deferral(first, world.clock.now()))
    record = await world.record()
    assert (record.state.crisis_followup_count, record.state.last_proactive_at) == (0, None)
    assert (record.state.deferred_key, record.state.deferrals) == (first.idempotency_key, 1)
    assert record.claim == replace(
        claimed, released_at=world.clock.now(), deferral_reason="outside_window"
    )
    morning = next_window_moment(world.clock.now(), NY)
    assert record.next_due_at == morning
    assert _deferred_count("outside_window", ReleaseOutcome.RELEASED) == released + 1

    # The same message deferred again under another event: nothing more is given back.
    await deliver(new_event(_deferral(first, world.clock.now()).payload, idempotency_key="another"))
    assert await world.record() == record
    assert _deferred_count("outside_window", ReleaseOutcome.ALREADY_RELEASED) == again + 1

    # The next morning the same stage goes out under a new key.
    world.clock.set(morning)
    assert (await world.scheduler().tick()).sent == 1  # type: ignore[union-attr]
    assert world.due_keys() == [first.idempotency_key, f"{first.idempotency_key}:deferred:1"]


async def test_a_deferral_after_a_newer_claim_or_of_an_unknown_user_changes_nothing() -> None:
    world = World()
    crisis = MORNING - timedelta(days=1)
    await world.deliver(world.handlers.profile_changed, _profile(1, last_crisis_event_at=crisis))
    scheduler = world.scheduler()
    assert (await scheduler.tick()).sent == 1  # type: ignore[union-attr]
    world.clock.set(crisis + timedelta(days=3))
    assert (await scheduler.tick()).sent == 1  # type: ignore[union-attr]
    first, second = world.work.emitted
    before = await world.record()

    superseded = _deferred_count("late", ReleaseOutcome.SUPERSEDED)
    deliver = world.handlers.counted_deferrals(
        lambda event: world.deliver(world.handlers.proactive_deferred, event)
    )
    await deliver(_deferral(first, world.clock.now(), "late"))
    stranger = _deferral(second, world.clock.now(), "late")
    await deliver(new_event(stranger.payload.model_copy(update={"user_id": "nobody"})))
    assert await world.record() == before
    assert await world.work.states.get("nobody") is None
    assert _deferred_count("late", ReleaseOutcome.SUPERSEDED) == superseded + 2


async def test_a_deferral_whose_transaction_fails_is_not_counted() -> None:
    world = World()

    class Broken(Exception):
        pass

    async def failing(event: Envelope[ProactiveMessageDeferred]) -> None:
        async def body(uow: SchedulerWork) -> None:
            await world.handlers.proactive_deferred(event, uow)
            raise Broken

        await world.work.run(body)

    before = _deferred_count("late", ReleaseOutcome.SUPERSEDED)
    due = new_event(
        ProactiveMessageDue(user_id="u1", phone=PHONE, kind="checkin", stage=0, due_at=MORNING),
        idempotency_key="proactive:u1:checkin:2026-01-15",
    )
    with pytest.raises(Broken):
        await world.handlers.counted_deferrals(failing)(_deferral(due, MORNING, "late"))
    assert _deferred_count("late", ReleaseOutcome.SUPERSEDED) == before
