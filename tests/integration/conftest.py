"""Fixtures over the real servers: settings pointed at them, a broker connection, a database.

Each test gets its own exchange and database, so tests never see each other's messages or
documents even though they share one broker node and one database server.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from aio_pika.abc import AbstractRobustConnection

from shared.broker import connect
from shared.config import BrokerSettings, MongoSettings
from shared.mongo import Database, MongoClient, create_client

pytestmark = pytest.mark.integration


@pytest.fixture
def broker_settings(rabbitmq_url: str) -> BrokerSettings:
    return BrokerSettings(
        url=rabbitmq_url,
        exchange=f"test.{uuid.uuid4().hex}",
        # Queues are global to the broker: a per-test prefix keeps tests' queues apart.
        queue_prefix=f"t{uuid.uuid4().hex[:12]}.",
        prefetch=20,
        max_attempts=4,
        retry_base_delay_ms=100,
        retry_max_delay_ms=2_000,
        shutdown_grace_seconds=5,
    )


@pytest.fixture
async def broker(broker_settings: BrokerSettings) -> AsyncIterator[AbstractRobustConnection]:
    connection = await connect(broker_settings, name="tests")
    yield connection
    await connection.close()


@pytest.fixture(scope="session")
def mongo_settings(mongodb_url: str) -> MongoSettings:
    return MongoSettings(url=mongodb_url)


@pytest.fixture(scope="session")
async def mongo_client(mongo_settings: MongoSettings) -> AsyncIterator[MongoClient]:
    client = create_client(mongo_settings, app_name="tests")
    yield client
    await client.close()


@pytest.fixture
async def db(mongo_client: MongoClient, mongo_db_name: str) -> AsyncIterator[Database]:
    database = mongo_client.get_database(mongo_db_name)
    yield database
    await mongo_client.drop_database(mongo_db_name)
