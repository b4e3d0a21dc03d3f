"""Private RabbitMQ and MongoDB-protocol servers run as child processes, without Docker.

The test suite falls back to these when no Docker daemon answers, and `make infra` runs them for
local development (`python -m shared.local_servers`). Not used by the services themselves.
"""

from shared.local_servers._process import LocalServer, LocalServerError, free_port
from shared.local_servers.mongo import LocalMongo
from shared.local_servers.rabbitmq import LocalRabbitMQ

__all__ = ["LocalMongo", "LocalRabbitMQ", "LocalServer", "LocalServerError", "free_port"]
