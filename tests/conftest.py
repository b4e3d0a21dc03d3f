"""Suite-wide fixtures: the real servers, started lazily once per session.

Nothing here runs unless a test asks for `rabbitmq_url` or `mongodb_url`, so unit tests never
start a server; how each server is obtained lives in `tests/support/servers.py`.

Nothing the session starts outlives it: SIGTERM (a timeout, a CI runner giving up) stops the
run as Ctrl-C does, so fixture teardown stops the servers and processes; if the session dies
without teardown (SIGKILL), its guardian ends them (`shared/local_servers/_lifecycle.py`).
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from types import FrameType

import pytest

from shared.local_servers import LocalMongo, LocalRabbitMQ
from shared.local_servers._lifecycle import watch_over_this_process
from tests.support.servers import Infra, infra_summary, resolve_mongodb, resolve_rabbitmq


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM as Ctrl-C: pytest stops and tears every fixture down. A second SIGTERM, while
    teardown runs, kills at once (the guardian then ends what teardown did not reach)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise KeyboardInterrupt(f"received {signal.Signals(signum).name}")


def _end_on_sigterm() -> None:
    # Only over the default: a test's own handler (an event loop's) stays until it resets it.
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _interrupt)


def pytest_configure(config: pytest.Config) -> None:
    watch_over_this_process()
    _end_on_sigterm()


def pytest_runtest_setup(item: pytest.Item) -> None:
    _end_on_sigterm()


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
