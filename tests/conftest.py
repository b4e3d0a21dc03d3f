"""Suite-wide fixtures: the real servers, started lazily once per session.

Nothing here runs unless a test asks for `rabbitmq_url` or `mongodb_url`, so unit tests never
start a server; how each server is obtained lives in `tests/support/servers.py`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from shared.local_servers import LocalMongo, LocalRabbitMQ
from tests.support.servers import Infra, infra_summary, resolve_mongodb, resolve_rabbitmq


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(infra_summary())


# -- servers (session) --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def rabbitmq_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra[LocalRabbitMQ]]:
    """The broker for this session; `.local` is set when it is a `LocalRabbitMQ` we started."""
    with resolve_rabbitmq(tmp_path_factory.mktemp("rabbitmq")) as infra:
        yield infra


@pytest.fixture(scope="session")
def mongodb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra[LocalMongo]]:
    """The MongoDB-protocol server for this session; `.local` is set for a `LocalMongo`."""
    with resolve_mongodb(tmp_path_factory.mktemp("mongodb")) as infra:
        yield infra


@pytest.fixture(scope="session")
def rabbitmq_url(rabbitmq_server: Infra[LocalRabbitMQ]) -> str:
    return rabbitmq_server.url


@pytest.fixture(scope="session")
def mongodb_url(mongodb_server: Infra[LocalMongo]) -> str:
    return mongodb_server.url


# -- per test -----------------------------------------------------------------------------------


@pytest.fixture
def mongo_db_name() -> str:
    """A database name no other test uses (MongoDB caps names at 63 bytes)."""
    return f"test_{uuid.uuid4().hex}"
