"""Sixty simulated days of a mixed population through the real scheduler, database and broker.

Users in seven timezones (Hawaii and Arizona included, across both DST changes) have mixed bands,
crises, silences, replies and opt-outs. Every simulated hour the population's events are fed
to the read model, the scheduler ticks, and the relay publishes what it emitted to a tap queue.
The invariants of docs/domain.md are then checked on what reached the broker. `SIM_USERS` sets the
population (CI: 100; `make soak` runs 2,000).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from aio_pika.abc import AbstractRobustConnection

from domain.proactive_policy import CRISIS_FOLLOWUP_DAYS, PROACTIVE_GAP, next_window_moment
from services.scheduler.handlers import SchedulerHandlers
from services.scheduler.repositories import SCHEDULER_INDEXES
from services.scheduler.tick import Scheduler
from services.scheduler.unit_of_work import (
    MongoSchedulerStore,
    MongoSchedulerWork,
    scheduler_work,
)
from shared.broker import Publisher, declare_exchange
from shared.clock import ManualClock
from shared.config import BrokerSettings, OutboxSettings
from shared.events import new_event
from shared.events.catalog import (
    EVENTS,
    ProactiveMessageDue,
    SmsOptOutChanged,
    UserChurned,
    UserProfileChanged,
)
from shared.mongo import Database, MongoClient, ensure_indexes
from shared.outbox import OUTBOX_COLLECTION, Outbox, OutboxRelay
from shared.unit_of_work import Transactions

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)  # the run spans the March DST change
DAYS = 60
ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
)
BANDS = ("crisis", "high", "moderate", "mild", "thriving", None)


@dataclass
class SimUser:
    user_id: str
    phone: str
    timezone: str
    band: str | None
    replies: list[datetime]
    crises: list[datetime]
    opt_out_at: datetime | None
    version: int = 0
    last_contact: datetime | None = None
    last_crisis: datetime | None = None


@dataclass
class Sent:
    at: datetime
    kind: str
    stage: int
    key: str


@dataclass
class Population:
    users: list[SimUser]
    received: dict[str, list[Sent]] = field(default_factory=lambda: defaultdict(list))
    churned_at: dict[str, list[datetime]] = field(default_factory=lambda: defaultdict(list))


def _population(size: int, seed: int = 7) -> list[SimUser]:
    rng = random.Random(seed)
    users = []
    for n in range(size):
        replies: list[datetime] = []
        style = rng.random()
        if style < 0.5:  # chatty: writes every few days
            moment = START + timedelta(hours=rng.randint(1, 72))
            while moment < START + timedelta(days=DAYS):
                replies.append(moment)
                moment += timedelta(hours=rng.randint(30, 200))
        elif style < 0.75:  # writes once or twice, then goes silent
            replies = sorted(START + timedelta(hours=rng.randint(1, 24 * 20)) for _ in range(2))
        crises = sorted(
            START + timedelta(hours=rng.randint(1, 24 * 45))
            for _ in range(rng.choice((0, 0, 1, 2)))
        )
        opt_out = START + timedelta(hours=rng.randint(24, 24 * 50)) if rng.random() < 0.1 else None
        users.append(
            SimUser(
                user_id=f"u{n:05d}",
                phone=f"+1555{n:07d}",
                timezone=rng.choice(ZONES),
                band=rng.choice(BANDS),
                replies=replies,
                crises=crises,
                opt_out_at=opt_out,
            )
        )
    return users


def _snapshot(user: SimUser, now: datetime) -> UserProfileChanged:
    user.version += 1
    return UserProfileChanged(
        user_id=user.user_id,
        phone=user.phone,
        version=user.version,
        journey_phase="active",
        timezone=user.timezone,
        burnout_band=user.band,
        last_contact_at=user.last_contact,
        last_crisis_event_at=user.last_crisis,
        sms_opt_out=user.opt_out_at is not None and user.opt_out_at <= now,
        changed_at=now,
    )


async def _feed(
    handlers: SchedulerHandlers,
    transactions: Transactions[MongoSchedulerWork],
    user: SimUser,
    since: datetime,
    now: datetime,
) -> None:
    """Apply what this user did in (since, now]: contact, crisis, opt-out; each event in its
    own transaction, as the consumer applies it."""
    changed = False
    if since == START:
        user.last_contact = START
        changed = True
    for moment in user.replies:
        if since < moment <= now:
            user.last_contact = moment
            changed = True
    for moment in user.crises:
        if since < moment <= now:
            user.last_crisis = moment
            user.last_contact = moment  # a crisis arrives as a message
            changed = True
    if changed:
        profile = new_event(_snapshot(user, now))
        await transactions.run(lambda uow: handlers.profile_changed(profile, uow))
    if user.opt_out_at is not None and since < user.opt_out_at <= now:
        opt_out = new_event(
            SmsOptOutChanged(
                phone=user.phone, opted_out=True, source="keyword", changed_at=user.opt_out_at
            )
        )
        await transactions.run(lambda uow: handlers.opt_out_changed(opt_out, uow))


async def _simulate(
    db: Database,
    mongo_client: MongoClient,
    broker: AbstractRobustConnection,
    broker_settings: BrokerSettings,
    users: list[SimUser],
    *,
    replicas: int = 1,
    days: int = DAYS,
) -> Population:
    await ensure_indexes(db, SCHEDULER_INDEXES)
    clock = ManualClock(START)
    handlers = SchedulerHandlers(clock, subscriptions_enabled=False)
    outbox = Outbox(db[OUTBOX_COLLECTION], clock)
    transactions = Transactions(mongo_client, outbox, scheduler_work(db))
    schedulers = [
        Scheduler(
            MongoSchedulerStore(db),
            transactions,
            clock,
            holder=f"replica-{n}",
            # Zero lease: every replica ticks every time, so only the claims keep them apart.
            batch_size=10_000,
            lease_seconds=0 if replicas > 1 else 30,
            subscriptions_enabled=False,
        )
        for n in range(replicas)
    ]
    channel = await broker.channel()
    exchange = await declare_exchange(channel, broker_settings.exchange)
    tap = await channel.declare_queue(exclusive=True)
    for event_type in (ProactiveMessageDue.EVENT_TYPE, UserChurned.EVENT_TYPE):
        await tap.bind(exchange, event_type)
    publisher = await Publisher.open(broker, broker_settings)
    relay = OutboxRelay(
        outbox, db[OUTBOX_COLLECTION], publisher, OutboxSettings(batch_size=1_000), clock
    )
    population = Population(users)
    previous = START
    while clock.now() < START + timedelta(days=days):
        now = clock.now()
        for user in users:
            await _feed(handlers, transactions, user, previous, now)
        await asyncio.gather(*(scheduler.tick() for scheduler in schedulers))
        while await relay.relay_once():
            pass
        while (message := await tap.get(no_ack=True, fail=False)) is not None:
            event = EVENTS.decode(message.body)
            payload = event.payload
            if isinstance(payload, ProactiveMessageDue):
                population.received[payload.user_id].append(
                    Sent(payload.due_at, payload.kind, payload.stage, event.idempotency_key)
                )
            elif isinstance(payload, UserChurned):
                population.churned_at[payload.user_id].append(payload.churned_at)
        previous = now
        clock.advance(timedelta(hours=1))
    await publisher.close()
    await channel.close()
    return population


# `make test` simulates 100 users (a few minutes on a loaded 2-core machine); `make soak` 2,000.
SIMULATED_USERS = int(os.environ.get("SIM_USERS", "100"))


@pytest.mark.timeout(max(600, SIMULATED_USERS * 2))
async def test_sixty_days_keep_every_promise(
    db: Database,
    mongo_client: MongoClient,
    broker: AbstractRobustConnection,
    broker_settings: BrokerSettings,
) -> None:
    users = _population(SIMULATED_USERS)
    population = await asyncio.wait_for(
        _simulate(db, mongo_client, broker, broker_settings, users), timeout=2_900
    )
    total = sum(len(messages) for messages in population.received.values())
    assert total > len(users)  # the simulation did exercise the scheduler
    for user in users:
        messages = population.received.get(user.user_id, [])
        keys = [m.key for m in messages]
        # each crisis stage and reactivation stage at most once (keys name crisis/silence + stage)
        assert len(keys) == len(set(keys)), user.user_id
        for earlier, later in itertools.pairwise(messages):
            assert later.at - earlier.at >= PROACTIVE_GAP, user.user_id
        for message in messages:
            local = message.at.astimezone(ZoneInfo(user.timezone)).time()
            assert time(9) <= local < time(20), (user.user_id, message)
            if user.opt_out_at is not None:
                assert message.at < user.opt_out_at, user.user_id
            # Churned users hear nothing more, until they write again (which reactivates them).
            churns = [c for c in population.churned_at.get(user.user_id, []) if c <= message.at]
            if churns:
                contacts = user.replies + user.crises
                assert any(churns[-1] <= c <= message.at for c in contacts), (user.user_id, message)
        churns = population.churned_at.get(user.user_id, [])
        _every_due_crisis_stage_was_sent(user, messages, churns[-1] if churns else None)


def _every_due_crisis_stage_was_sent(
    user: SimUser, messages: list[Sent], churned: datetime | None
) -> None:
    """For the last crisis of a user who stayed reachable, each stage due well before the end was
    sent, or a later stage of the same crisis was (overdue stages collapse)."""
    if not user.crises:
        return
    crisis = user.crises[-1]
    end = START + timedelta(days=DAYS)
    stop = min(x for x in (user.opt_out_at, churned, end) if x is not None)
    stamp = crisis.strftime("%Y%m%dT%H%M%S")
    sent_stages = [m.stage for m in messages if m.kind == "crisis_followup" and stamp in m.key]
    for stage, days in enumerate(CRISIS_FOLLOWUP_DAYS, start=1):
        due = next_window_moment(crisis + timedelta(days=days), user.timezone)
        # a generous margin: the 24 h gap and the window may push a stage a couple of days
        if due + timedelta(days=3) < stop:
            assert any(sent >= stage for sent in sent_stages), (user.user_id, stage, sent_stages)


async def test_two_overlapping_replicas_send_what_one_sends(
    db: Database,
    mongo_client: MongoClient,
    broker: AbstractRobustConnection,
    broker_settings: BrokerSettings,
) -> None:
    alone = await _simulate(
        db, mongo_client, broker, broker_settings, _population(40, seed=3), days=20
    )
    await mongo_client.drop_database(db.name)
    together = await _simulate(
        db, mongo_client, broker, broker_settings, _population(40, seed=3), replicas=2, days=20
    )

    def keys(population: Population) -> set[str]:
        return {m.key for messages in population.received.values() for m in messages}

    assert keys(alone)
    assert keys(together) == keys(alone)
    assert sum(map(len, together.received.values())) == sum(map(len, alone.received.values()))
