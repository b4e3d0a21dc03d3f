"""Where the test suite gets its RabbitMQ and MongoDB from, in order of preference.

An explicit URL in the environment wins (CI services, a running `make infra`); else Docker via
testcontainers when a daemon answers; else private local servers (`shared.local_servers`).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar

from pymongo import MongoClient

from shared.local_servers import LocalMongo, LocalRabbitMQ, LocalServer

Source = Literal["env", "testcontainers", "local"]
LocalT = TypeVar("LocalT", bound=LocalServer)

RABBITMQ_IMAGE = "rabbitmq:4-management"
MONGODB_IMAGE = "mongo:7"
MONGODB_REPLICA_SET = "rs0"

log = logging.getLogger(__name__)

# Which path each server took in this process, for the pytest summary line.
RESOLVED: dict[str, Source] = {}


@dataclass
class Infra(Generic[LocalT]):
    """A usable server: its URL, where it came from, and how to get rid of it.

    `local` is the `LocalRabbitMQ`/`LocalMongo` when `source == "local"` (chaos tests can
    stop/kill/restart it), else None.
    """

    kind: str
    url: str
    source: Source
    cleanup: Callable[[], None] = field(repr=False)
    local: LocalT | None = None
    _closed: bool = field(default=False, repr=False)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _nothing() -> None:
    return None


def _record(infra: Infra[LocalT]) -> Infra[LocalT]:
    RESOLVED[infra.kind] = infra.source
    log.info("test %s: %s (%s)", infra.kind, infra.source, infra.url)
    return infra


def infra_summary() -> str:
    """One line for the terminal, e.g. `infra: rabbitmq=local mongodb=not started`."""
    parts = [f"{kind}={RESOLVED.get(kind, 'not started')}" for kind in ("rabbitmq", "mongodb")]
    return "infra: " + " ".join(parts)


@functools.cache
def docker_available(timeout: float = 2.0) -> bool:
    """Whether a Docker daemon answers a ping (the CLI alone is not enough)."""
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _env_url(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None


# -- RabbitMQ -----------------------------------------------------------------------------------


def resolve_rabbitmq(base_dir: Path | None = None) -> Infra[LocalRabbitMQ]:
    """`RABBITMQ_URL`, else a `rabbitmq:4-management` container, else a `LocalRabbitMQ`."""
    url = _env_url("RABBITMQ_URL")
    if url:
        return _record(Infra("rabbitmq", url, "env", _nothing))
    if docker_available():
        return _record(_rabbitmq_container())
    server = LocalRabbitMQ(base_dir).start()
    return _record(Infra("rabbitmq", server.url, "local", server.close, local=server))


def _rabbitmq_container() -> Infra[LocalRabbitMQ]:
    try:
        from testcontainers.community.rabbitmq import RabbitMqContainer
    except ImportError:  # older testcontainers releases
        from testcontainers.rabbitmq import RabbitMqContainer

    container: Any = RabbitMqContainer(RABBITMQ_IMAGE)
    container.start()
    try:
        host = container.get_container_host_ip()
        port = container.get_exposed_port(container.port)
        url = f"amqp://{container.username}:{container.password}@{host}:{port}/"
    except BaseException:
        container.stop()
        raise
    return Infra("rabbitmq", url, "testcontainers", container.stop)


# -- MongoDB ------------------------------------------------------------------------------------


def resolve_mongodb(base_dir: Path | None = None) -> Infra[LocalMongo]:
    """`MONGODB_URL`, else a `mongo:7` single-node replica set container, else `LocalMongo`."""
    url = _env_url("MONGODB_URL")
    if url:
        return _record(Infra("mongodb", url, "env", _nothing))
    if docker_available():
        return _record(_mongodb_container())
    server = LocalMongo(base_dir).start()
    return _record(Infra("mongodb", server.url, "local", server.close, local=server))


def _mongodb_container(timeout: float = 60.0) -> Infra[LocalMongo]:
    try:
        from testcontainers.community.mongodb import MongoDbContainer
    except ImportError:  # older testcontainers releases
        from testcontainers.mongodb import MongoDbContainer

    class ReplicaSetMongo(MongoDbContainer):
        def _configure(self) -> None:
            # No root user: auth plus --replSet would need a keyFile, and tests need neither.
            return None

    container: Any = ReplicaSetMongo(MONGODB_IMAGE)
    container.with_command(f"--replSet {MONGODB_REPLICA_SET} --bind_ip_all")
    container.start()
    try:
        host = container.get_container_host_ip()
        port = container.get_exposed_port(container.port)
        url = f"mongodb://{host}:{port}/?directConnection=true"
        _initiate_replica_set(url, timeout)
    except BaseException:
        container.stop()
        raise
    return Infra("mongodb", url, "testcontainers", container.stop)


def _initiate_replica_set(url: str, timeout: float) -> None:
    """`replSetInitiate` with this one member, then wait until it is a writable primary."""
    client: MongoClient[dict[str, Any]] = MongoClient(url, serverSelectionTimeoutMS=10_000)
    try:
        client.admin.command(
            "replSetInitiate",
            {"_id": MONGODB_REPLICA_SET, "members": [{"_id": 0, "host": "localhost:27017"}]},
        )
        deadline = time.monotonic() + timeout
        while not client.admin.command("hello").get("isWritablePrimary"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"mongo replica set not primary after {timeout:.0f}s")
            time.sleep(0.2)
    finally:
        client.close()
