"""Acceptance for the SMS worker's proactive side: `proactive.message.due` and `user.churned`
published on the real broker, handled by the service as `python -m services.sms_worker` wires
it (both consumers in one runtime), checked in its database and outbox.

Users are onboarded through real inbound messages first, so the profile, its `version` and the
snapshots are the inbound worker's own.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiormq
import pytest
from aio_pika.abc import AbstractRobustConnection

from services.queues import CONSUMER_QUEUES
from services.sms_worker.bootstrap import SERVICE, sms_worker_consumers
from services.sms_worker.domain.proactive import ProactiveKind
from services.sms_worker.domain.profile import Profile
from services.sms_worker.domain.responder import RulesResponder
from services.sms_worker.proactive_handlers import ProactiveConfig, ProactiveMessages
from services.sms_worker.queues import PROACTIVE
from services.sms_worker.settings import SmsWorkerSettings
from services.sms_worker.storage import MongoProactiveLog
from services.sms_worker.unit_of_work import MongoSmsWork, sms_work
from shared.broker import Consumer, Publisher
from shared.broker.consumer import AlreadyProcessed
from shared.broker.topology import parking_queue_name
from shared.clock import Clock, ManualClock
from shared.config import BrokerSettings, LinkSettings, SubscriptionSettings
from shared.events import Envelope, new_event
from shared.events.catalog import (
    EVENTS,
    ProactiveMessageDeferred,
    ProactiveMessageDue,
    SmsOutboundRequested,
    UserChurned,
    UserProfileChanged,
)
from shared.inbox import INBOX_COLLECTION, Inbox
from shared.mongo import Database
from shared.outbox import OUTBOX_COLLECTION, Outbox
from shared.unit_of_work import Transactions
from shared.worker import WorkerHost, WorkerRuntime
from tests.integration.sms_worker.conftest import START, SmsWorker
from tests.support.processes import ServiceProcess, service_environment
from tests.support.taps import tap_events
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

PHONE = "+14155550142"
DAY = timedelta(days=1)


@dataclass
class ProactiveWorker:
    """A running SMS worker (inbound + proactive consumers) and what a test reads from it."""

    sms: SmsWorker
    clock: ManualClock

    @property
    def db(self) -> Database:
        return self.sms.db

    async def onboard(self, phone: str = PHONE) -> str:
        """A caregiver who texted at `START` and finished onboarding: `active`, named Ana."""
        await self.sms.conversation(["hi", "Ana", "mom", "Rosa", "02139"], phone=phone)
        profile = await self.sms.profile(phone)
        assert profile["journey_phase"] == "active"
        return str(profile["_id"])

    def due(
        self, user_id: str, kind: ProactiveKind, stage: int, due_at: datetime
    ) -> Envelope[ProactiveMessageDue]:
        """A `proactive.message.due` as the scheduler emits it."""
        return new_event(
            ProactiveMessageDue(
                user_id=user_id, phone=PHONE, kind=kind, stage=stage, due_at=due_at
            ),
            idempotency_key=f"proactive:{user_id}:{kind}:{due_at:%Y%m%dT%H%M%S}:{stage}",
            occurred_at=due_at,
        )

    def churned(self, user_id: str, at: datetime) -> Envelope[UserChurned]:
        return new_event(
            UserChurned(user_id=user_id, phone=PHONE, churned_at=at),
            idempotency_key=f"churned:{user_id}:{at.isoformat()}",
        )

    async def deliver(self, event: Envelope[Any], copies: int = 1) -> None:
        """Publish `event` (`copies` at once, as redeliveries) and wait until it is handled."""
        await asyncio.gather(*(self.sms.publish(event) for _ in range(copies)))
        inbox = self.db[INBOX_COLLECTION]

        async def handled() -> bool:
            row = await inbox.find_one({"_id": f"{PROACTIVE.name}:{event.id}"}, {"_id": 1})
            return row is not None

        await eventually(handled)

    async def decision(self, event: Envelope[ProactiveMessageDue]) -> dict[str, Any]:
        row = await self.db.proactive_log.find_one({"_id": event.idempotency_key})
        assert row is not None, "no decision recorded"
        return row

    async def snapshots(self, event: Envelope[Any]) -> list[UserProfileChanged]:
        events = await self.sms.emitted(event, UserProfileChanged.EVENT_TYPE)
        return [e.payload for e in events if isinstance(e.payload, UserProfileChanged)]


StartWorker = Callable[..., AbstractAsyncContextManager[ProactiveWorker]]


def _environment(
    broker_settings: BrokerSettings, mongodb_url: str, mongo_db_name: str, **extra: str
) -> dict[str, str]:
    return service_environment(
        broker_settings,
        mongodb_url,
        service=SERVICE,
        database=mongo_db_name,
        RABBITMQ_MAX_ATTEMPTS=str(broker_settings.max_attempts),
        RABBITMQ_RETRY_BASE_DELAY_MS=str(broker_settings.retry_base_delay_ms),
        RABBITMQ_RETRY_MAX_DELAY_MS=str(broker_settings.retry_max_delay_ms),
        OUTBOX_POLL_INTERVAL_SECONDS="0.2",
        **extra,
    )


@pytest.fixture
def start_worker(
    monkeypatch: pytest.MonkeyPatch,
    broker: AbstractRobustConnection,
    broker_settings: BrokerSettings,
    mongodb_url: str,
    mongo_db_name: str,
    db: Database,
) -> StartWorker:
    """`async with start_worker() as worker:` runs both consumers in-process."""
    environment = _environment(broker_settings, mongodb_url, mongo_db_name, LOG_FORMAT="console")
    for name, value in environment.items():
        if os.environ.get(name) != value:
            monkeypatch.setenv(name, value)

    @asynccontextmanager
    async def start() -> AsyncIterator[ProactiveWorker]:
        # The events here are dated around START; staleness has tests of its own.
        monkeypatch.setenv("SMS_PROACTIVE_MAX_DELAY_HOURS", str(LONG_DELAY.total_seconds() / 3600))
        clock = _window_clock()
        settings = SmsWorkerSettings()
        async with WorkerRuntime.open(SERVICE, queues=CONSUMER_QUEUES, clock=clock) as runtime:
            consumers = await sms_worker_consumers(
                runtime,
                settings,
                SubscriptionSettings(enabled=False),
                RulesResponder(settings.reply_max_chars),
                LinkSettings(),
            )
            stop = asyncio.Event()
            host = asyncio.create_task(WorkerHost(consumers, [runtime.relay]).run(stop))
            publisher = await Publisher.open(broker, broker_settings)
            try:
                await eventually(_consuming(consumers))
                yield ProactiveWorker(SmsWorker(db, publisher, broker_settings), clock)
            finally:
                stop.set()
                await asyncio.wait_for(host, 15)
                await publisher.close()

    return start


# Events in most tests are dated around START; staleness has tests of its own.
LONG_DELAY = timedelta(days=3650)


def _window_clock() -> ManualClock:
    """Frozen at 16:00 UTC today: inside New York's 09:00-20:00 window all year, and close
    enough to real time for the inbox and outbox rows' expiry."""
    return ManualClock(datetime.now(UTC).replace(hour=16, minute=0, second=0, microsecond=0))


def _zone_in_window(now: datetime) -> str:
    """A time zone where `now` is mid-window, for a process that runs on the real clock."""
    for zone in ("America/New_York", "Europe/London", "Asia/Kolkata", "Asia/Tokyo",
                 "Pacific/Honolulu", "America/Los_Angeles", "Australia/Sydney"):  # fmt: skip
        if 10 <= now.astimezone(ZoneInfo(zone)).hour < 18:
            return zone
    raise AssertionError("no zone in the list is inside its window now")


async def _seed_active_user(
    db: Database,
    user_id: str,
    *,
    timezone: str = "America/New_York",
    last_contact_at: datetime = START,
) -> str:
    """An onboarded caregiver written straight to the database (version 1, silent since
    `last_contact_at`), for tests that run the handler or the process without the inbound
    conversation."""
    await db.users.insert_one({"_id": user_id, "phone": PHONE, "roles": []})
    profile = Profile(
        user_id=user_id,
        timezone=timezone,
        journey_phase="active",
        first_name="Ana",
        last_contact_at=last_contact_at,
        version=1,
    )
    await db.user_profiles.insert_one({"_id": user_id, **profile.model_dump(mode="python")})
    return user_id


def _consuming(consumers: list[Consumer]) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return all(consumer.consuming for consumer in consumers)

    return probe


async def test_a_due_message_is_requested_once_however_often_it_arrives(
    start_worker: StartWorker,
) -> None:
    async with start_worker() as worker:
        user_id = await worker.onboard()
        before = await worker.sms.profile(PHONE)
        due = worker.due(user_id, "reactivation", 1, START + 8 * DAY)
        await worker.deliver(due, copies=3)
        await worker.deliver(due)  # redelivered after it was handled

        [request] = await worker.sms.requested(due)
        assert (request.kind, request.to_number, request.user_id) == ("proactive", PHONE, user_id)
        assert request.body.startswith("Hi Ana,")
        assert len(request.body) <= 160
        outbox = worker.db[OUTBOX_COLLECTION].find({"type": SmsOutboundRequested.EVENT_TYPE})
        requests = [EVENTS.decode(row["body"]) async for row in outbox]
        proactive = [
            e
            for e in requests
            if isinstance(e.payload, SmsOutboundRequested) and e.payload.kind == "proactive"
        ]
        assert [e.idempotency_key for e in proactive] == [due.idempotency_key]

        profile = await worker.sms.profile(PHONE)
        assert profile["version"] == before["version"] + 1
        assert profile["reactivation_message_count"] == 1
        assert profile["crisis_followup_count"] == 0
        assert profile["last_proactive_message_at"] == worker.clock.now()
        [snapshot] = await worker.snapshots(due)
        assert (snapshot.version, snapshot.reactivation_message_count) == (profile["version"], 1)

        decision = await worker.decision(due)
        assert (decision["outcome"], decision["reason"]) == ("sent", None)
        assert decision["body"] == request.body
        conversation = await worker.db.conversation_state.find_one({"_id": user_id})
        assert conversation is not None
        ours = [m for m in conversation["recent_messages"] if m.get("kind") == "proactive"]
        assert [m["body"] for m in ours] == [request.body]
        assert conversation["total_interaction_count"] == 5  # the five inbound messages only


async def test_an_opted_out_user_gets_no_proactive_message(start_worker: StartWorker) -> None:
    async with start_worker() as worker:
        user_id = await worker.onboard()
        await worker.sms.text("STOP", phone=PHONE, at=START + DAY)
        before = await worker.sms.profile(PHONE)
        due = worker.due(user_id, "crisis_followup", 1, START + 2 * DAY)
        await worker.deliver(due)

        assert await worker.sms.requested(due) == []
        assert await worker.snapshots(due) == []
        decision = await worker.decision(due)
        assert (decision["outcome"], decision["reason"]) == ("suppressed", "opted_out")
        assert decision["body"] is None
        profile = await worker.sms.profile(PHONE)
        assert profile["version"] == before["version"]
        assert profile.get("last_proactive_message_at") is None


async def test_a_churned_user_is_churned_once_and_hears_nothing_more(
    start_worker: StartWorker,
) -> None:
    async with start_worker() as worker:
        user_id = await worker.onboard()
        before = await worker.sms.profile(PHONE)
        churned = worker.churned(user_id, START + 40 * DAY)
        await worker.deliver(churned, copies=2)
        await worker.deliver(churned)

        profile = await worker.sms.profile(PHONE)
        assert profile["journey_phase"] == "churned"
        assert profile["version"] == before["version"] + 1
        [snapshot] = await worker.snapshots(churned)
        assert (snapshot.journey_phase, snapshot.version) == ("churned", profile["version"])

        later = worker.due(user_id, "reactivation", 1, START + 50 * DAY)
        await worker.deliver(later)
        assert await worker.sms.requested(later) == []
        decision = await worker.decision(later)
        assert (decision["outcome"], decision["reason"]) == ("suppressed", "not_active")
        assert (await worker.sms.profile(PHONE))["version"] == profile["version"]


async def test_recent_contact_suppresses_a_checkin(start_worker: StartWorker) -> None:
    async with start_worker() as worker:
        user_id = await worker.onboard()
        # DAILY asks for daily check-ins: recent contact is then 2 days.
        await worker.sms.text("DAILY", phone=PHONE, at=START + DAY)
        too_soon = worker.due(user_id, "checkin", 0, START + 2 * DAY)
        await worker.deliver(too_soon)
        assert await worker.sms.requested(too_soon) == []
        decision = await worker.decision(too_soon)
        assert (decision["outcome"], decision["reason"]) == ("suppressed", "recent_contact")

        silent_long_enough = worker.due(user_id, "checkin", 0, START + 3 * DAY)
        await worker.deliver(silent_long_enough)
        [request] = await worker.sms.requested(silent_long_enough)
        assert "PAUSE" in request.body
        assert (await worker.decision(silent_long_enough))["outcome"] == "sent"


async def test_a_message_consumed_outside_the_window_is_deferred_not_dropped(
    start_worker: StartWorker,
) -> None:
    """It waited in the queue until it was night where the caregiver lives: nothing is sent,
    the profile is untouched (the stage was not sent), and the scheduler is told, once."""
    async with start_worker() as worker:
        # The worker's clock says 16:00 UTC: 06:00 in Honolulu.
        user_id = await _seed_active_user(
            worker.db, "u-night", timezone="Pacific/Honolulu", last_contact_at=START
        )
        now = worker.clock.now()
        due = worker.due(user_id, "reactivation", 1, now - timedelta(hours=9))
        await worker.deliver(due, copies=2)
        await worker.deliver(due)

        assert await worker.sms.requested(due) == []
        assert await worker.snapshots(due) == []
        decision = await worker.decision(due)
        assert (decision["outcome"], decision["reason"], decision["body"]) == (
            "deferred",
            "outside_window",
            None,
        )
        profile = await worker.db.user_profiles.find_one({"_id": user_id})
        assert profile is not None
        assert (profile["version"], profile["reactivation_message_count"]) == (1, 0)
        assert profile.get("last_proactive_message_at") is None

        [deferral] = await worker.sms.emitted(due, ProactiveMessageDeferred.EVENT_TYPE)
        assert deferral.idempotency_key == f"proactive-deferred:{due.idempotency_key}"
        payload = deferral.payload
        assert isinstance(payload, ProactiveMessageDeferred)
        assert (payload.message_key, payload.user_id, payload.kind, payload.stage) == (
            due.idempotency_key,
            user_id,
            "reactivation",
            1,
        )
        assert (payload.reason, payload.due_at, payload.deferred_at) == (
            "outside_window",
            due.payload.due_at,
            now,
        )


class Crash(Exception):
    """The worker died here."""


class _CrashOnce:
    """Makes one awaited method of a class raise `Crash` the first time any instance calls it
    (the repositories are built afresh in every transaction)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, target: type, method: str) -> None:
        original = getattr(target, method)
        self.crashed = False

        async def crash_once(instance: object, *args: Any, **kwargs: Any) -> Any:
            if not self.crashed:
                self.crashed = True
                raise Crash
            return await original(instance, *args, **kwargs)

        monkeypatch.setattr(target, method, crash_once)


def _inbox(db: Database, outbox: Outbox, clock: Clock) -> Inbox[MongoSmsWork]:
    transactions = Transactions(db.client, outbox, sms_work(db))
    return Inbox(transactions, db[INBOX_COLLECTION], clock, consumer="sms_worker.proactive")


@pytest.mark.parametrize(
    "crash_point",
    ["after the profile commit", "after the decision was recorded"],
)
async def test_a_replay_after_a_crash_finishes_the_same_single_send(
    db: Database, crash_point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that dies between the handler's writes leaves none of them (one transaction);
    the broker then delivers the event again, and the redelivery makes the single send."""
    user_id = await _seed_active_user(db, "u-crash")
    clock = _window_clock()
    outbox = Outbox(db[OUTBOX_COLLECTION], clock)
    handler = ProactiveMessages(
        clock, ProactiveConfig(LONG_DELAY, False, SmsWorkerSettings().recent_messages)
    )
    if crash_point == "after the profile commit":
        crash = _CrashOnce(monkeypatch, MongoProactiveLog, "record")
    else:
        crash = _CrashOnce(monkeypatch, Outbox, "add_batch")
    due = new_event(
        ProactiveMessageDue(
            user_id=user_id, phone=PHONE, kind="crisis_followup", stage=2, due_at=START + 3 * DAY
        ),
        idempotency_key=f"proactive:{user_id}:crisis_followup:crash:2",
    )
    deliver = _inbox(db, outbox, clock).idempotent(handler.handle)
    with pytest.raises(Crash):
        await deliver(due)
    clock.advance(timedelta(seconds=5))  # the redelivery comes a little later
    await deliver(due)
    assert crash.crashed

    rows = [row async for row in db[OUTBOX_COLLECTION].find({})]
    events = [EVENTS.decode(row["body"]) for row in rows]
    requests = [
        (e.idempotency_key, e.payload)
        for e in events
        if isinstance(e.payload, SmsOutboundRequested)
    ]
    snapshots = [e.payload.version for e in events if isinstance(e.payload, UserProfileChanged)]
    [(key, request)] = requests
    assert key == due.idempotency_key
    assert snapshots == [2]
    profile = await db.user_profiles.find_one({"_id": user_id})
    assert profile is not None
    assert (profile["version"], profile["crisis_followup_count"]) == (2, 2)
    decision = await db.proactive_log.find_one({"_id": due.idempotency_key})
    assert decision is not None
    assert decision["outcome"] == "sent"
    assert decision["body"] == request.body


@pytest.mark.parametrize("crash_point", ["before the decision", "after the decision"])
async def test_a_late_message_is_deferred_once_even_after_a_crash(
    db: Database, crash_point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Consumed more than SMS_PROACTIVE_MAX_DELAY_HOURS after it fell due (the worker was down):
    deferred as late. A crash part-way leaves nothing; the redelivery makes the single
    deferral, and a further one is recognised by the inbox."""
    user_id = await _seed_active_user(db, "u-late")
    clock = _window_clock()
    outbox = Outbox(db[OUTBOX_COLLECTION], clock)
    handler = ProactiveMessages(
        clock, ProactiveConfig(DAY, False, SmsWorkerSettings().recent_messages)
    )
    crash = (
        _CrashOnce(monkeypatch, MongoProactiveLog, "record")
        if crash_point == "before the decision"
        else _CrashOnce(monkeypatch, Outbox, "add_batch")
    )
    due = new_event(
        ProactiveMessageDue(
            user_id=user_id,
            phone=PHONE,
            kind="crisis_followup",
            stage=1,
            due_at=clock.now() - DAY - timedelta(seconds=1),
        ),
        idempotency_key=f"proactive:{user_id}:crisis_followup:late:1",
    )
    deliver = _inbox(db, outbox, clock).idempotent(handler.handle)
    with pytest.raises(Crash):
        await deliver(due)
    clock.advance(timedelta(seconds=5))
    await deliver(due)
    with pytest.raises(AlreadyProcessed):
        await deliver(due)  # redelivered once more
    assert crash.crashed

    events = [EVENTS.decode(row["body"]) async for row in db[OUTBOX_COLLECTION].find({})]
    assert [e.type for e in events] == [ProactiveMessageDeferred.EVENT_TYPE]
    [deferral] = events
    assert isinstance(deferral.payload, ProactiveMessageDeferred)
    assert (deferral.payload.reason, deferral.payload.message_key) == ("late", due.idempotency_key)
    decision = await db.proactive_log.find_one({"_id": due.idempotency_key})
    assert decision is not None
    assert (decision["outcome"], decision["reason"]) == ("deferred", "late")
    profile = await db.user_profiles.find_one({"_id": user_id})
    assert profile is not None
    assert (profile["version"], profile["crisis_followup_count"]) == (1, 0)


async def test_a_stage_without_words_is_parked(
    start_worker: StartWorker, broker: AbstractRobustConnection
) -> None:
    async with start_worker() as worker:
        unknown_stage = worker.due("u-none", "crisis_followup", 9, START)
        await worker.sms.publish(unknown_stage)
        parking = parking_queue_name(worker.sms.broker_settings.queue(PROACTIVE.name))

        async def parked() -> bool:
            channel = await broker.channel()
            try:
                queue = await channel.declare_queue(parking, passive=True)
            except aiormq.exceptions.ChannelNotFoundEntity:
                return False
            finally:
                if not channel.is_closed:
                    await channel.close()
            return queue.declaration_result.message_count == 1

        await eventually(parked)
        assert await worker.db.proactive_log.count_documents({}) == 0


async def test_the_service_process_consumes_proactive_messages(
    broker: AbstractRobustConnection,
    broker_settings: BrokerSettings,
    mongodb_url: str,
    mongo_db_name: str,
    db: Database,
) -> None:
    # The process runs on the real clock and default settings: a message due a minute ago, to a
    # caregiver for whom it is daytime now.
    now = datetime.now(UTC)
    user_id = await _seed_active_user(
        db, "u-process", timezone=_zone_in_window(now), last_contact_at=now - 10 * DAY
    )
    tap = await tap_events(broker, broker_settings.exchange, SmsOutboundRequested.EVENT_TYPE)
    try:
        async with ServiceProcess(
            "services.sms_worker", _environment(broker_settings, mongodb_url, mongo_db_name)
        ) as worker:
            publisher = await Publisher.open(broker, broker_settings)
            due = new_event(
                ProactiveMessageDue(
                    user_id=user_id,
                    phone=PHONE,
                    kind="reactivation",
                    stage=1,
                    due_at=now - timedelta(minutes=1),
                ),
                idempotency_key=f"proactive:{user_id}:reactivation:process:1",
            )
            await publisher.publish(due)
            await publisher.close()
            message = await eventually(lambda: tap.get(no_ack=True, fail=False), timeout=20)
            request = EVENTS.decode(message.body)
            assert isinstance(request.payload, SmsOutboundRequested)
            assert (request.payload.kind, request.idempotency_key) == (
                "proactive",
                due.idempotency_key,
            )
            output = await worker.stop()
    finally:
        await tap.channel.close()
    assert worker.returncode == 0, output.decode(errors="replace")
    assert PHONE.encode() not in output
    assert b"Hi Ana" not in output
