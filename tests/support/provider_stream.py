"""Traffic as the providers send it, for tests of the running system (tests/support/system.py):
a steady stream of signed inbound SMS retried like Twilio retries, and the check that every
accepted one got exactly one reply with nothing left in flight. Used by the chaos and soak tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx

from domain import send_status
from services.devtools.webhooks import WebhookRefused
from services.queues import CONSUMER_QUEUES
from services.sms_worker.domain import replies
from shared.config import SERVICES
from shared.outbox import PENDING
from tests.support.system import OUR_NUMBER, System
from tests.support.waiting import eventually

# How long the stream keeps retrying one webhook, as Twilio's and Stripe's retries would.
GIVE_UP_AFTER = 150.0
SETTLE_TIMEOUT = 180.0
# Waiting for replies fails only after this long without a single new one.
STALL_TIMEOUT = 90.0
_numbers = itertools.count(1)


def new_phone() -> str:
    """A made-up caregiver number (area code 555) no other test in the session uses."""
    return f"+1555{next(_numbers) % 10_000_000:07d}"


@dataclass
class ProviderStream:
    """Inbound SMS at a steady rate, each from a new caregiver saying hello (whose one reply is
    the welcome), posted as Twilio would and retried as Twilio would until ingress takes it:
    refusals (503 while the database is down) and connection errors are tried again with
    backoff. `accepted` are the numbers whose webhook ingress took."""

    system: System
    rate_per_second: float = 4.0
    accepted: list[str] = field(default_factory=list)
    refusals: int = 0
    connection_errors: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def deliver(self, phone: str, body: str = "hi") -> None:
        delay = 0.25
        deadline = asyncio.get_running_loop().time() + GIVE_UP_AFTER
        # One MessageSid for every try, as the provider retries: ingress dedupes it. (A try whose
        # answer was lost, e.g. ingress killed after storing it, is the same message again.)
        sid = _sid()
        while True:
            try:
                await self.system.webhooks.text(phone, body, to_number=OUR_NUMBER, message_sid=sid)
            except WebhookRefused as error:
                if error.status < 500:
                    raise AssertionError(f"ingress refused a valid webhook: {error}") from None
                self.refusals += 1
            except httpx.TransportError:
                self.connection_errors += 1
            else:
                self.accepted.append(phone)
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"ingress did not take a webhook within {GIVE_UP_AFTER}s")
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 4.0)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ProviderStream]:
        """Send for as long as the block runs; on leaving, wait until every webhook is taken."""
        stop = asyncio.Event()

        async def pace() -> None:
            while not stop.is_set():
                task = asyncio.create_task(self.deliver(new_phone()))
                self._tasks.add(task)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1 / self.rate_per_second)

        pacer = asyncio.create_task(pace())
        try:
            yield self
        finally:
            stop.set()
            await pacer
            await asyncio.gather(*self._tasks)


async def assert_exactly_one_reply_each(system: System, phones: list[str]) -> None:
    """Every accepted webhook's caregiver got the welcome exactly once, and the system has
    nothing left in flight: no unpublished outbox row, no message waiting in a work queue,
    nothing parked in a dead-letter queue, no send still open."""
    assert phones, "the stream sent nothing"
    await _wait_while_replies_come(system, phones)
    await assert_settled(system)
    received = {phone: [m["body"] for m in system.twilio.messages_to(phone)] for phone in phones}
    wrong = {phone: bodies for phone, bodies in received.items() if bodies != [replies.WELCOME]}
    assert not wrong, f"{len(wrong)} of {len(phones)} caregivers did not get exactly one welcome"
    assert len(set(phones)) == len(phones)


async def _wait_while_replies_come(system: System, phones: list[str]) -> None:
    """Wait until every caregiver has a reply, for as long as replies keep arriving: a backlog
    drains at its own pace on a busy machine, but STALL_TIMEOUT without a single new reply is a
    failure, reported with where the missing ones are."""
    loop = asyncio.get_running_loop()
    replied, last_progress = 0, loop.time()
    while True:
        now_replied = sum(1 for phone in phones if system.twilio.messages_to(phone))
        if now_replied == len(phones):
            return
        if now_replied > replied:
            replied, last_progress = now_replied, loop.time()
        elif loop.time() - last_progress > STALL_TIMEOUT:
            missing = [phone for phone in phones if not system.twilio.messages_to(phone)]
            raise AssertionError(
                f"{len(missing)} of {len(phones)} caregivers got no reply, and none arrived for "
                f"{STALL_TIMEOUT:.0f}s; {await _whereabouts(system, missing)}"
            )
        await asyncio.sleep(0.5)


async def _whereabouts(system: System, missing: list[str]) -> str:
    """How far the missing caregivers' messages got: users created, inbound recorded, sends by
    status, and what waits in the queues (counts only: no phone numbers in the report)."""
    sms = system.db("sms_worker")
    users = await sms.users.count_documents({"phone": {"$in": missing}})
    ingress_rows = await system.db("ingress").ingress_events.count_documents({})
    sends: dict[str, int] = {}
    async for row in sms.outbound_messages.find({"to_number": {"$in": missing}}, {"status": 1}):
        sends[row["status"]] = sends.get(row["status"], 0) + 1
    queued = {queue: await system.queue_ready_count(queue) for queue in CONSUMER_QUEUES}
    pending = {
        service: await system.db(service).outbox.count_documents({"status": PENDING})
        for service in SERVICES
    }
    return (
        f"users created for them: {users}; ingress rows in all: {ingress_rows}; their sends by "
        f"status: {sends}; ready in queues: {queued}; unpublished outbox rows: {pending}"
    )


async def assert_settled(system: System) -> None:
    """Wait until nothing is in flight; fail at once if anything was parked."""
    await eventually(lambda: _settled(system), timeout=SETTLE_TIMEOUT, interval=0.5)


async def _settled(system: System) -> bool:
    for service in SERVICES:
        if await system.db(service).outbox.count_documents({"status": PENDING}):
            return False
    open_sends = await system.db("sms_worker").outbound_messages.count_documents(
        {"status": {"$in": [send_status.PENDING, send_status.SENDING]}}
    )
    if open_sends:
        return False
    for queue in CONSUMER_QUEUES:
        if await system.queue_ready_count(queue):
            return False
        parked = await system.queue_ready_count(f"{queue}.dlq")
        assert parked == 0, f"{parked} event(s) parked in {queue}.dlq"
    return True


def _sid() -> str:
    return f"SM{uuid.uuid4().hex}"
