"""Fault tests: the whole system as real processes under a steady stream of signed webhooks while
the broker, the database, the network or a service fails, then the one promise that matters —
every webhook ingress accepted produced exactly one reply at the fake Twilio, and nothing is
left waiting, unpublished or parked.

The services reach RabbitMQ and the database through fault-injecting proxies (latency, cut
connections); the test's own clients go direct. `make chaos` runs these alone; `make test` runs
them too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from shared.local_servers import LocalMongo, LocalRabbitMQ
from tests.support.chaos_proxy import ChaosProxy, through
from tests.support.servers import Infra
from tests.support.system import System, running_system


@dataclass
class Proxies:
    broker: ChaosProxy
    database: ChaosProxy

    def all(self) -> tuple[ChaosProxy, ChaosProxy]:
        return (self.broker, self.database)


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
        yield running


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
