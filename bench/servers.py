"""The servers a benchmark runs against: the environment's, else private local ones."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from shared.local_servers import LocalMongo, LocalRabbitMQ


@contextlib.contextmanager
def broker_and_database() -> Iterator[tuple[str, str]]:
    """(RABBITMQ_URL, MONGODB_URL) from the environment, or of servers started for the run."""
    if os.environ.get("RABBITMQ_URL") and os.environ.get("MONGODB_URL"):
        yield os.environ["RABBITMQ_URL"], os.environ["MONGODB_URL"]
        return
    with LocalRabbitMQ() as rabbit, LocalMongo() as mongo:
        yield rabbit.url, mongo.url


@contextlib.contextmanager
def database() -> Iterator[str]:
    """MONGODB_URL from the environment, or of a server started for the run."""
    if os.environ.get("MONGODB_URL"):
        yield os.environ["MONGODB_URL"]
        return
    with LocalMongo() as mongo:
        yield mongo.url
