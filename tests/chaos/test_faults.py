"""Faults under a steady webhook stream, each ending in the same check: every accepted webhook
got exactly one reply, and nothing is left unpublished, queued or parked. The tests share one
running system (module scope) and run in order; each leaves it healthy for the next."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest

from services.billing_worker.domain import messages as billing_texts
from services.devtools.stripe_events import BillingEventType, caregiver_event
from shared.local_servers import LocalMongo, LocalRabbitMQ
from tests.chaos.conftest import Proxies, local_server
from tests.support.provider_stream import (
    ProviderStream,
    assert_exactly_one_reply_each,
    assert_settled,
    new_phone,
)
from tests.support.servers import Infra
from tests.support.system import OUR_NUMBER, REPLY_TIMEOUT, System
from tests.support.waiting import eventually

pytestmark = pytest.mark.chaos

# Long enough for every service to notice (heartbeats, server selection) and go through its
# reconnect path, short enough for CI.
OUTAGE_SECONDS = 10.0
BEFORE_FAULT_SECONDS = 3.0
AFTER_FAULT_SECONDS = 5.0


async def _stream_through_outage(
    system: System, server: LocalRabbitMQ | LocalMongo
) -> ProviderStream:
    """The steady stream while `server` is stopped for OUTAGE_SECONDS and started again."""
    stream = ProviderStream(system)
    async with stream.running():
        await asyncio.sleep(BEFORE_FAULT_SECONDS)
        await asyncio.to_thread(server.stop)
        await asyncio.sleep(OUTAGE_SECONDS)
        await asyncio.to_thread(server.start)
        await asyncio.sleep(AFTER_FAULT_SECONDS)
    return stream


async def test_broker_stopped_for_ten_seconds_and_restarted(
    system: System, rabbitmq_server: Infra[LocalRabbitMQ]
) -> None:
    stream = await _stream_through_outage(system, local_server(rabbitmq_server))
    # Ingress kept answering: what it stored while the broker was away, its relay sent later.
    assert stream.refusals == 0
    await assert_exactly_one_reply_each(system, stream.accepted)


async def test_database_stopped_and_restarted(
    system: System, mongodb_server: Infra[LocalMongo]
) -> None:
    stream = await _stream_through_outage(system, local_server(mongodb_server))
    # Nothing can be stored while the database is down, so ingress said 503 and the provider
    # came back later; nothing accepted before the outage was lost in it (on-disk storage).
    assert stream.refusals > 0
    await assert_exactly_one_reply_each(system, stream.accepted)


@pytest.mark.parametrize("service", ["sms-worker", "sms-sender", "ingress", "billing", "scheduler"])
async def test_each_service_killed_mid_stream_and_restarted(system: System, service: str) -> None:
    stream = ProviderStream(system)
    async with stream.running():
        await asyncio.sleep(BEFORE_FAULT_SECONDS)
        await system.restart(service)
        await asyncio.sleep(AFTER_FAULT_SECONDS)
    await assert_exactly_one_reply_each(system, stream.accepted)


async def test_latency_and_cut_connections_between_services_and_servers(
    system: System, proxies: Proxies
) -> None:
    stream = ProviderStream(system)
    try:
        async with stream.running():
            for proxy in proxies.all():
                proxy.latency = 0.02
            for _ in range(3):
                await asyncio.sleep(BEFORE_FAULT_SECONDS)
                for proxy in proxies.all():
                    await proxy.cut()
            await asyncio.sleep(AFTER_FAULT_SECONDS)
    finally:
        for proxy in proxies.all():
            proxy.latency = 0.0
    assert proxies.broker.connections_cut > 0
    assert proxies.database.connections_cut > 0
    await assert_exactly_one_reply_each(system, stream.accepted)


async def test_a_storm_of_duplicate_webhooks_gets_one_reply_each(system: System) -> None:
    phones = [new_phone() for _ in range(20)]
    sids = {phone: f"SMstorm{index:06d}{random.getrandbits(32):08x}" for index, phone in
            enumerate(phones)}  # fmt: skip

    async def copies(phone: str) -> None:
        await asyncio.gather(
            *(
                system.webhooks.text(phone, "hi", to_number=OUR_NUMBER, message_sid=sids[phone])
                for _ in range(8)
            )
        )

    await asyncio.gather(*(copies(phone) for phone in phones))
    await assert_exactly_one_reply_each(system, phones)


async def test_stripe_events_duplicated_and_out_of_order_give_the_latest_state_and_one_welcome(
    system: System,
) -> None:
    phones = [new_phone() for _ in range(4)]
    start = datetime.now(UTC) - timedelta(minutes=5)
    events = []
    for phone in phones:
        # The subscription's story in Stripe's order: checkout, created, past due, paid again.
        story = [
            caregiver_event(BillingEventType.CHECKOUT_COMPLETED, phone, now=start),
            caregiver_event(
                BillingEventType.SUBSCRIPTION_CREATED, phone, now=start + timedelta(seconds=1)
            ),
            caregiver_event(
                BillingEventType.SUBSCRIPTION_UPDATED,
                phone,
                status="past_due",
                now=start + timedelta(seconds=2),
            ),
            caregiver_event(
                BillingEventType.SUBSCRIPTION_UPDATED, phone, now=start + timedelta(seconds=3)
            ),
        ]
        events += story * 3  # every event delivered three times
    random.shuffle(events)
    await asyncio.gather(*(system.webhooks.stripe_event(event) for event in events))
    accounts = system.db("billing_worker").billing_accounts

    async def final_state() -> bool:
        docs = await accounts.find({"_id": {"$in": phones}}).to_list()
        return len(docs) == len(phones) and all(
            doc.get("status") == "active" and doc.get("has_access") for doc in docs
        )

    await eventually(final_state, timeout=REPLY_TIMEOUT * 2, interval=0.5)
    await assert_settled(system)
    # Access was granted once (past_due keeps it), so each caregiver was welcomed once.
    for phone in phones:
        assert [m["body"] for m in system.twilio.messages_to(phone)] == [billing_texts.WELCOME]
