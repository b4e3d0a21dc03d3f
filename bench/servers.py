"""The servers a benchmark runs against: the environment's, else private local ones; what they
are (for the report), and removing a run's queues from them afterwards."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aio_pika
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from services.queues import CONSUMER_QUEUES
from shared.broker import connect
from shared.broker.retry import RetryPolicy
from shared.broker.topology import parking_queue_name, retry_queue_name
from shared.config import BrokerSettings, MongoSettings
from shared.local_servers import LocalMongo, LocalRabbitMQ
from shared.mongo import create_client


@dataclass(frozen=True)
class Servers:
    """Where the broker and database are; for servers started here, also the session ids of
    their process trees, so a benchmark can charge their CPU time to the requests."""

    rabbitmq_url: str
    mongodb_url: str
    broker_session: int | None = None
    database_session: int | None = None


@contextlib.contextmanager
def servers() -> Iterator[Servers]:
    """The environment's RABBITMQ_URL and MONGODB_URL, or servers started for the run."""
    if os.environ.get("RABBITMQ_URL") and os.environ.get("MONGODB_URL"):
        yield Servers(os.environ["RABBITMQ_URL"], os.environ["MONGODB_URL"])
        return
    with LocalRabbitMQ() as rabbit, LocalMongo() as mongo:
        yield Servers(rabbit.url, mongo.url, rabbit.pids["rabbitmq-server"], mongo.pid)


@contextlib.contextmanager
def broker_and_database() -> Iterator[tuple[str, str]]:
    """(RABBITMQ_URL, MONGODB_URL) from the environment, or of servers started for the run."""
    with servers() as found:
        yield found.rabbitmq_url, found.mongodb_url


@contextlib.contextmanager
def database() -> Iterator[str]:
    """MONGODB_URL from the environment, or of a server started for the run."""
    if os.environ.get("MONGODB_URL"):
        yield os.environ["MONGODB_URL"]
        return
    with LocalMongo() as mongo:
        yield mongo.url


def describe_database(url: str) -> str:
    """Which server the figures were taken against: SecantusDB and MongoDB differ a lot."""
    client: MongoClient[dict[str, Any]] = MongoClient(url, serverSelectionTimeoutMS=5_000)
    try:
        info = client.admin.command("buildInfo")
    except PyMongoError as error:
        return f"unknown ({type(error).__name__})"
    finally:
        client.close()
    if "secantusVersion" in info:
        secantus, reported = info["secantusVersion"], info["version"]
        return f"SecantusDB {secantus} (MongoDB wire protocol, reports {reported})"
    return f"MongoDB {info.get('version', '?')}"


async def drop_queues(settings: BrokerSettings) -> None:
    """Delete every consumer queue a run declared under its prefix (work, retry and parking),
    so a shared broker is left as it was found."""
    connection = await connect(settings, name="bench-cleanup")
    try:
        tiers = RetryPolicy.from_settings(settings).retry_tiers
        for name in CONSUMER_QUEUES:
            queue = settings.queue(name)
            for target in (
                queue,
                parking_queue_name(queue),
                *(retry_queue_name(queue, tier) for tier in range(1, tiers + 1)),
            ):
                channel = await connection.channel()
                with contextlib.suppress(aio_pika.exceptions.AMQPError):
                    await channel.queue_delete(target)
                if not channel.is_closed:
                    await channel.close()
    finally:
        await connection.close()


class DatabaseOperations:
    """The database server's own count of the operations it served (`serverStatus`
    opcounters: insert, query, update, delete, getmore, command), from every client at once —
    how a benchmark counts the round trips of processes it cannot instrument."""

    def __init__(self, url: str) -> None:
        self._client = create_client(MongoSettings(url=url), app_name="bench-opcounters")

    async def read(self) -> dict[str, int]:
        status = await self._client.admin.command("serverStatus")
        return {name: int(count) for name, count in status["opcounters"].items()}

    async def close(self) -> None:
        await self._client.close()
