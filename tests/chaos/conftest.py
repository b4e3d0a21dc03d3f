"""Fault tests: the whole system as real processes under a steady stream of signed webhooks while
the broker, the database, the network or a service fails, then the one promise that matters —
every webhook ingress accepted produced exactly one reply at the fake Twilio, and nothing is
left waiting, unpublished or parked.

The services reach RabbitMQ and the database through fault-injecting proxies (latency, cut
connections); the test's own clients go direct. `make chaos` runs these alone; `make test` runs
them too.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from shared.local_servers import LocalMongo, LocalRabbitMQ
from shared.local_servers._process import tail
from tests.support.chaos_proxy import ChaosProxy, through
from tests.support.servers import Infra
from tests.support.system import System, running_system


@dataclass
class Proxies:
    broker: ChaosProxy
    database: ChaosProxy

    def all(self) -> tuple[ChaosProxy, ChaosProxy]:
        return (self.broker, self.database)


# Lines of each log a failure report carries.
REPORT_LINES = 120
# How long the database may take to answer a ping before it counts as stuck.
PING_TIMEOUT_MS = 5_000


@dataclass
class _Run:
    """What the module's tests share besides the system: the first failure (the tests run in
    order on one system, so after one fails the rest would only wait out their timeouts on a
    system it may have broken) and the servers, for the failure report."""

    first_failure: str | None = None
    mongodb: Infra[LocalMongo] | None = None
    system: System | None = None


_run = _Run()


@pytest.fixture(autouse=True)
def _stop_after_the_first_failure() -> None:
    if _run.first_failure is not None:
        pytest.skip(f"not run: {_run.first_failure} failed first, on the system these tests share")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """A failure's report carries what is needed to tell why from a CI log alone: whether the
    database still answers, the tail of its log and the tail of every service's log (which
    hold no phone numbers or message bodies)."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed or _run.first_failure is not None:
        return
    _run.first_failure = item.name
    report.sections.append(("database", _database_state()))
    if _run.system is not None:
        lines = _run.system.logs().decode("utf-8", errors="replace").splitlines()
        report.sections.append(("services' logs (last lines)", "\n".join(lines[-REPORT_LINES:])))


def _database_state() -> str:
    if _run.mongodb is None:
        return "no database server yet"
    took = _ping_ms(_run.mongodb.url)
    answer = f"answered in {took:.0f} ms" if took is not None else "no answer"
    said = [f"ping (within {PING_TIMEOUT_MS} ms): {answer}"]
    if _run.mongodb.local is not None:
        said.append(f"log ({_run.mongodb.local.log_file}):")
        said.append(tail(_run.mongodb.local.log_file, REPORT_LINES))
    return "\n".join(said)


def _ping_ms(url: str) -> float | None:
    """How long the server took to answer a ping; None if it did not within PING_TIMEOUT_MS."""
    client: MongoClient[dict[str, Any]] = MongoClient(
        url, serverSelectionTimeoutMS=PING_TIMEOUT_MS, socketTimeoutMS=PING_TIMEOUT_MS
    )
    began = time.monotonic()
    try:
        client.admin.command("ping")
    except PyMongoError:
        return None
    finally:
        client.close()
    return (time.monotonic() - began) * 1000


@pytest.fixture(scope="module")
async def proxies(rabbitmq_url: str, mongodb_url: str) -> AsyncIterator[Proxies]:
    broker_port, database_port = urlsplit(rabbitmq_url).port, urlsplit(mongodb_url).port
    assert broker_port is not None
    assert database_port is not None
    async with ChaosProxy(broker_port) as broker, ChaosProxy(database_port) as database:
        yield Proxies(broker, database)


@pytest.fixture(scope="module")
async def system(
    rabbitmq_url: str, mongodb_url: str, proxies: Proxies, mongodb_server: Infra[LocalMongo]
) -> AsyncIterator[System]:
    async with running_system(
        rabbitmq_url,
        mongodb_url,
        # A database outage lasts longer than the default start-up grace of a request.
        {"MONGODB_SERVER_SELECTION_TIMEOUT_MS": "2000"},
        services_rabbitmq_url=through(rabbitmq_url, proxies.broker.port),
        services_mongodb_url=through(mongodb_url, proxies.database.port),
        drop_databases=mongodb_server.local is None,
    ) as running:
        _run.mongodb, _run.system = mongodb_server, running
        yield running
    _run.system = None
    if mongodb_server.local is not None and _ping_ms(mongodb_server.url) is None:
        # The rest of the session shares this server: a stuck one would make every later test
        # wait out its timeout. The failure above is already reported.
        mongodb_server.local.kill()
        mongodb_server.local.start()


def local_server(
    server: Infra[LocalRabbitMQ] | Infra[LocalMongo],
) -> LocalRabbitMQ | LocalMongo:
    """The server process this session started, which a test may stop; a server from the
    environment or a container is not ours to stop."""
    if server.local is None:
        pytest.skip(
            f"the {server.kind} server came from {server.source}; only a local one is stopped"
        )
    return server.local
