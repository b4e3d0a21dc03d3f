"""An ingress app served by a real uvicorn on a free port, against the real broker and database,
with a durable tap queue counting what it publishes."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from aio_pika.abc import AbstractQueue, AbstractRobustConnection

from services.devtools.loopback import LoopbackServer
from services.ingress.app import create_app
from services.ingress.settings import IngressConfig, IngressSettings, WebhookSettings
from shared.broker import declare_exchange
from shared.config import (
    BrokerSettings,
    MongoSettings,
    OutboxSettings,
    StripeSettings,
    TwilioSettings,
)
from shared.mongo import Database
from tests.support.waiting import eventually

TWILIO_TOKEN = "test-twilio-auth-token"
STRIPE_SECRET = "whsec_test_secret"
PUBLIC_BASE_URL = "https://givecare.example"


@dataclass
class RunningIngress:
    base_url: str
    http: httpx.AsyncClient
    config: IngressConfig


def ingress_config(
    broker_settings: BrokerSettings,
    mongodb_url: str,
    db_name: str,
    **webhook_overrides: object,
) -> IngressConfig:
    return IngressConfig(
        ingress=IngressSettings(publish_timeout_seconds=1.0),
        webhooks=WebhookSettings.model_validate(
            {
                "public_base_url": PUBLIC_BASE_URL,
                "webhook_max_body_bytes": 4_096,
                **webhook_overrides,
            }
        ),
        twilio=TwilioSettings(auth_token=TWILIO_TOKEN),
        stripe=StripeSettings(webhook_secret=STRIPE_SECRET),
        broker=broker_settings,
        mongo=MongoSettings(url=mongodb_url, db_ingress=db_name, server_selection_timeout_ms=1_000),
        outbox=OutboxSettings(poll_interval_seconds=0.2, claim_lease_seconds=5),
    )


@contextlib.asynccontextmanager
async def serving(config: IngressConfig) -> AsyncIterator[RunningIngress]:
    """The ingress app under a real uvicorn on a free loopback port, for the block's duration."""
    async with (
        LoopbackServer(create_app(config)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=30) as http,
    ):
        yield RunningIngress(server.url, http, config)


async def until_ready(running: RunningIngress) -> None:
    """Wait (bounded) until ingress reaches both the broker and the database."""

    async def ready() -> bool:
        return (await running.http.get("/readyz")).status_code == 200

    await eventually(ready)


@pytest.fixture
async def ingress(
    broker_settings: BrokerSettings, mongodb_url: str, mongo_db_name: str, db: Database
) -> AsyncIterator[RunningIngress]:
    async with serving(ingress_config(broker_settings, mongodb_url, mongo_db_name)) as running:
        await until_ready(running)
        yield running


@pytest.fixture
async def tap(
    broker: AbstractRobustConnection, broker_settings: BrokerSettings
) -> AsyncIterator[AbstractQueue]:
    """A durable queue seeing every event on the test exchange; it survives a broker restart."""
    channel = await broker.channel()
    exchange = await declare_exchange(channel, broker_settings.exchange)
    queue = await channel.declare_queue(
        f"{broker_settings.queue_prefix}tap.{uuid.uuid4().hex[:8]}",
        durable=True,
        arguments={"x-queue-type": "quorum"},
    )
    await queue.bind(exchange, "#")
    yield queue
    channel = await broker.channel()
    await channel.queue_delete(queue.name)
    await channel.close()
