"""The one way services open MongoDB: PyMongo's async client, one database per service.

Handlers never see the client; wiring code hands them a collection or a repository. The client
is created timezone-aware so every datetime read back compares with `Clock.now()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from shared.config import MongoSettings
from shared.mongo.command_metrics import CommandMetrics
from shared.mongo.write_log import WriteLog

Document = dict[str, Any]
MongoClient = AsyncMongoClient[Document]
Database = AsyncDatabase[Document]


def create_client(settings: MongoSettings, *, app_name: str | None = None) -> MongoClient:
    """A lazily-connecting client; the URL carries deployment options such as `retryWrites`."""
    listeners: list[monitoring.CommandListener] = [CommandMetrics()]
    if settings.write_log is not None:
        listeners.append(WriteLog(settings.write_log, app_name or "unnamed"))
    return AsyncMongoClient(
        settings.url.get_secret_value(),
        tz_aware=True,
        appname=app_name,
        serverSelectionTimeoutMS=settings.server_selection_timeout_ms,
        maxIdleTimeMS=settings.max_idle_time_ms,
        document_class=dict,
        event_listeners=listeners,
    )


def service_database(client: MongoClient, settings: MongoSettings, service: str) -> Database:
    return client.get_database(settings.database_name(service))


class TransactionsUnavailable(RuntimeError):
    """The server cannot run multi-document transactions, which every service relies on."""


async def require_transactions(client: MongoClient) -> None:
    """Refuse to start on a server without transactions (a standalone `mongod`).

    Every consumer applies inbox row, state change and outbox rows in one transaction; there is
    no second, weaker mode. Transactions need a replica-set member or a mongos.
    """
    hello: Mapping[str, Any] = await client.admin.command("hello")
    if hello.get("setName") or hello.get("msg") == "isdbgrid":
        return
    raise TransactionsUnavailable(
        "MongoDB is running standalone, without transactions. Run it as a single-node replica "
        "set: start mongod with `--replSet rs0`, run `rs.initiate()` once in mongosh, and "
        "connect with `?replicaSet=rs0` (or `?directConnection=true`) in MONGODB_URL."
    )


async def ping(client: MongoClient) -> None:
    """Raise unless the server answers; used by readiness checks."""
    await client.admin.command("ping")
