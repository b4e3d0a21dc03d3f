"""The admin API as ingress serves it — a real uvicorn over the real broker and database — with
databases of its own per test, a manual clock, API tokens minted for each role through the admin
code itself, and the `givecare` CLI run as a process of its own (`tests/support/cli.py`)
against the same servers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from services.admin.auth import Role, operator
from services.admin.wiring import AdminConfig, AdminServices, open_admin
from services.devtools.loopback import LoopbackServer
from services.ingress.app import create_app
from shared.clock import ManualClock
from shared.config import BrokerSettings
from shared.mongo import Database, MongoClient
from tests.integration.ingress.conftest import ingress_config
from tests.integration.sms_sender.conftest import harness_factory

__all__ = ["harness_factory"]  # the SMS sender's harness, for retries through the real sender
from tests.support.cli import CliResult, givecare
from tests.support.processes import ServiceProcess, service_environment

BOOTSTRAP_TOKEN = "test-bootstrap-token-0123456789abcdef"
ADMIN_PHONE = "+15555550100"
SUPPORT_PHONE = "+15555550101"
FAILED_AUTH_LIMIT = 4
FAILED_AUTH_WINDOW_SECONDS = 60
# The API's clock: tomorrow, 15:00 UTC — the same time of day on every run, so "today" is
# predictable, and ahead of real time, so tokens the CLI mints (on the real clock) still count as
# unexpired and the database never expires this test's rows by TTL while it runs.
NOW = (datetime.now(UTC) + timedelta(days=1)).replace(hour=15, minute=0, second=0, microsecond=0)
OPERATOR = operator("tests@localhost")


@dataclass
class AdminHarness:
    app: FastAPI
    http: httpx.AsyncClient
    clock: ManualClock
    services: AdminServices
    broker_settings: BrokerSettings
    admin_db: Database
    sms_db: Database
    sender_db: Database
    billing_db: Database
    migrations_db: Database
    env: dict[str, str]

    async def token(self, phone: str, *roles: Role) -> str:
        """A fresh API token for the user with `phone`, who is granted `roles` first."""
        for role in roles:
            await self.services.actions.grant_role(OPERATOR, phone, role)
        minted = await self.services.actions.create_token(
            OPERATOR, phone, roles=roles, ttl_days=None, name=None
        )
        token: str = minted.token
        return token

    async def cli(self, *args: str, stdin: str | None = None) -> CliResult:
        """`givecare <args>` as a process, with this test's servers in its environment."""
        return await givecare(*args, env=self.env, stdin=stdin)


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
async def admin(
    monkeypatch: pytest.MonkeyPatch,
    broker_settings: BrokerSettings,
    mongodb_url: str,
    mongo_db_name: str,
    mongo_client: MongoClient,
    db: Database,
) -> AsyncIterator[AdminHarness]:
    """Ingress with the admin API on a free port. The SMS worker's and the sender's databases
    are both `db` here, so a test can run the real sender (whose harness uses `db`) beside it."""
    names = {
        "MONGODB_DB_SMS_WORKER": mongo_db_name,
        "MONGODB_DB_SMS_SENDER": mongo_db_name,
        "MONGODB_DB_ADMIN": f"{mongo_db_name}_adm",
        "MONGODB_DB_BILLING_WORKER": f"{mongo_db_name}_bil",
        "MIGRATIONS_STATE_DB": f"{mongo_db_name}_mig",
    }
    settings = {
        "ADMIN_BOOTSTRAP_TOKEN": BOOTSTRAP_TOKEN,
        "ADMIN_FAILED_AUTH_LIMIT": str(FAILED_AUTH_LIMIT),
        "ADMIN_FAILED_AUTH_WINDOW_SECONDS": str(FAILED_AUTH_WINDOW_SECONDS),
        "ADMIN_LAST_USED_INTERVAL_SECONDS": "0",
    }
    for name, value in {**names, **settings}.items():
        monkeypatch.setenv(name, value)
    ingress_db = f"{mongo_db_name}_ing"
    config = ingress_config(broker_settings, mongodb_url, ingress_db)
    clock = ManualClock(NOW)
    env = service_environment(
        broker_settings,
        mongodb_url,
        service="admin",
        database=names["MONGODB_DB_ADMIN"],
        LOG_FORMAT="json",
    )
    app = create_app(config, clock)
    try:
        async with (
            LoopbackServer(app) as server,
            httpx.AsyncClient(base_url=f"{server.url}/admin", timeout=30) as http,
            open_admin(
                AdminConfig.from_environment(broker=config.broker, mongo=config.mongo), clock
            ) as services,
        ):
            yield AdminHarness(
                app=app,
                http=http,
                clock=clock,
                services=services,
                broker_settings=broker_settings,
                admin_db=mongo_client[names["MONGODB_DB_ADMIN"]],
                sms_db=db,
                sender_db=db,
                billing_db=mongo_client[names["MONGODB_DB_BILLING_WORKER"]],
                migrations_db=mongo_client[names["MIGRATIONS_STATE_DB"]],
                env=env,
            )
    finally:
        for name in (*list(names.values())[2:], ingress_db):
            await mongo_client.drop_database(name)


# Where an operator's machine would find a database or broker in remote mode: nowhere.
NOWHERE = {
    "MONGODB_URL": "mongodb://127.0.0.1:9/?directConnection=true&serverSelectionTimeoutMS=500",
    "RABBITMQ_URL": "amqp://nobody:nothing@127.0.0.1:9/",
}


@dataclass
class Remote:
    """A real ingress process with the admin API on 127.0.0.1, and `givecare` pointed at it
    from an environment with no reachable database or broker."""

    url: str
    ingress: ServiceProcess
    # The databases each service uses here (`MONGODB_DB_*`), for processes started beside it.
    databases: dict[str, str]
    admin_db: Database
    sms_db: Database
    sender_db: Database
    billing_db: Database
    broker_settings: BrokerSettings
    mongodb_url: str

    async def cli(self, *args: str, token: str | None) -> CliResult:
        env = {**os.environ, **NOWHERE, "GIVECARE_API_URL": self.url, "LOG_FORMAT": "json"}
        env.pop("GIVECARE_TOKEN", None)
        if token is not None:
            env["GIVECARE_TOKEN"] = token
        return await givecare(*args, env=env)


@pytest.fixture
async def remote(
    broker_settings: BrokerSettings, mongodb_url: str, mongo_db_name: str, mongo_client: MongoClient
) -> AsyncIterator[Remote]:
    """`python -m services.ingress` as a real process, its admin API under /admin."""
    names = {
        "MONGODB_DB_INGRESS": f"{mongo_db_name}_ing",
        "MONGODB_DB_ADMIN": f"{mongo_db_name}_adm",
        "MONGODB_DB_SMS_WORKER": f"{mongo_db_name}_sms",
        "MONGODB_DB_SMS_SENDER": f"{mongo_db_name}_snd",
        "MONGODB_DB_BILLING_WORKER": f"{mongo_db_name}_bil",
        "MIGRATIONS_STATE_DB": f"{mongo_db_name}_mig",
    }
    env = service_environment(
        broker_settings,
        mongodb_url,
        service="ingress",
        database=names["MONGODB_DB_INGRESS"],
        **names,
        INGRESS_HOST="127.0.0.1",
        TWILIO_AUTH_TOKEN="remote-cli-twilio-token",
        ADMIN_BOOTSTRAP_TOKEN=BOOTSTRAP_TOKEN,
        ADMIN_LAST_USED_INTERVAL_SECONDS="0",
    )
    try:
        async with ServiceProcess(
            "services.ingress", env, port_variable="INGRESS_PORT", ready_timeout=60
        ) as ingress:
            yield Remote(
                url=f"http://127.0.0.1:{ingress.ops_port}",
                ingress=ingress,
                databases=names,
                admin_db=mongo_client[names["MONGODB_DB_ADMIN"]],
                sms_db=mongo_client[names["MONGODB_DB_SMS_WORKER"]],
                sender_db=mongo_client[names["MONGODB_DB_SMS_SENDER"]],
                billing_db=mongo_client[names["MONGODB_DB_BILLING_WORKER"]],
                broker_settings=broker_settings,
                mongodb_url=mongodb_url,
            )
    finally:
        for name in names.values():
            await mongo_client.drop_database(name)
