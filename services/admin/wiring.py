"""Assembling the admin once — settings, databases, broker access, outbox, reads and writes — for
the API (mounted in ingress) and the CLI alike, so both run the same code over the same data."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from pymongo.errors import PyMongoError

from services.admin.actions import AdminActions
from services.admin.auth import Authenticator
from services.admin.broker import BrokerAccess
from services.admin.queries import AdminReads
from services.admin.settings import AdminSettings
from services.admin.store import MongoFailedAttempts, admin_indexes
from services.admin.unit_of_work import MongoAdminRepositories, admin_work
from services.billing_worker.views import BillingViews
from services.sms_sender.views import SenderViews
from services.sms_worker.views import SmsWorkerViews
from shared.clock import Clock, SystemClock
from shared.config import (
    BrokerSettings,
    MigrationSettings,
    MongoSettings,
    OutboxSettings,
    SenderSettings,
    load_settings,
)
from shared.mongo import create_client, ensure_indexes, service_database
from shared.outbox import OUTBOX_COLLECTION, Outbox, OutboxRelay
from shared.unit_of_work import Transactions

SERVICE = "admin"


@dataclass(frozen=True)
class AdminConfig:
    admin: AdminSettings
    broker: BrokerSettings
    mongo: MongoSettings
    outbox: OutboxSettings
    migrations: MigrationSettings
    sender: SenderSettings

    @classmethod
    def from_environment(
        cls, *, broker: BrokerSettings | None = None, mongo: MongoSettings | None = None
    ) -> AdminConfig:
        """Everything from the environment; a host process (ingress) passes its own broker and
        database settings so the admin talks to exactly what it does."""
        return cls(
            admin=load_settings(AdminSettings),
            broker=broker or load_settings(BrokerSettings),
            mongo=mongo or load_settings(MongoSettings),
            outbox=load_settings(OutboxSettings),
            migrations=load_settings(MigrationSettings),
            sender=load_settings(SenderSettings),
        )


class AdminServices:
    """The admin's live dependencies. The client connects lazily and the broker on first use,
    so building this never waits for a server."""

    def __init__(self, config: AdminConfig, clock: Clock, *, app_name: str = SERVICE) -> None:
        self.config = config
        self.clock = clock
        self.client = create_client(config.mongo, app_name=app_name)
        self.admin_db = service_database(self.client, config.mongo, SERVICE)
        self.sms = SmsWorkerViews(service_database(self.client, config.mongo, "sms_worker"))
        self.sender = SenderViews(service_database(self.client, config.mongo, "sms_sender"))
        self.broker = BrokerAccess(config.broker, name=app_name)
        settings = config.admin
        self.repositories = MongoAdminRepositories(self.admin_db)
        self.failures = MongoFailedAttempts(
            self.admin_db,
            limit=settings.failed_auth_limit,
            window=timedelta(seconds=settings.failed_auth_window_seconds),
        )
        self.outbox = Outbox(self.admin_db[OUTBOX_COLLECTION], clock)
        self.relay = OutboxRelay(
            self.outbox, self.admin_db[OUTBOX_COLLECTION], self.broker, config.outbox, clock
        )
        self.auth = Authenticator(
            self.repositories.tokens, self.repositories.operators, self.failures, clock, settings
        )
        self.reads = AdminReads(
            repositories=self.repositories,
            sms=self.sms,
            sender=self.sender,
            billing=BillingViews(service_database(self.client, config.mongo, "billing_worker")),
            migrations_db=self.client.get_database(config.migrations.state_db),
            broker=self.broker,
            clock=clock,
            metrics_timezone=settings.metrics_timezone,
            recent_messages=settings.recent_messages,
        )
        self.actions = AdminActions(
            repositories=self.repositories,
            transactions=Transactions(self.client, self.outbox, admin_work(self.admin_db)),
            sms=self.sms,
            sender=self.sender,
            broker=self.broker,
            clock=clock,
            token_ttl=timedelta(days=settings.token_ttl_days),
            max_body_chars=config.sender.max_body_chars,
            publish_now=self._publish_now,
        )

    def page(self, limit: int) -> int:
        """At most `ADMIN_MAX_LIST_LIMIT` of the rows a request asks for (itself at most a page)."""
        return min(limit, self.config.admin.max_list_limit)

    async def _publish_now(self) -> None:
        """Publish what a write queued; if the broker is away the relay retries later."""
        with contextlib.suppress(PyMongoError):
            await self.relay.relay_once()

    async def prepare(self) -> None:
        """Apply the admin's indexes (idempotent), like every service at start-up."""
        settings = self.config.admin
        await ensure_indexes(
            self.admin_db,
            admin_indexes(
                failed_auth_window_seconds=settings.failed_auth_window_seconds,
                outbox_retention_days=self.config.mongo.outbox_retention_days,
            ),
        )

    async def close(self) -> None:
        await self.broker.close()
        await self.client.close()


@contextlib.asynccontextmanager
async def open_admin(
    config: AdminConfig, clock: Clock | None = None, *, app_name: str = SERVICE
) -> AsyncIterator[AdminServices]:
    """The admin for one command (the CLI): indexes applied, everything closed afterwards."""
    services = AdminServices(config, clock or SystemClock(), app_name=app_name)
    try:
        await services.prepare()
        yield services
    finally:
        await services.close()
