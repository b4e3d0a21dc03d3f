"""Opening the broker: a robust connection that reconnects and restores its topology by itself."""

from __future__ import annotations

import aio_pika
from aio_pika.abc import AbstractRobustConnection

from shared.config import BrokerSettings


async def connect(settings: BrokerSettings, *, name: str) -> AbstractRobustConnection:
    """Connect with heartbeats; `name` shows in the management UI as the connection's owner."""
    return await aio_pika.connect_robust(
        settings.url.get_secret_value(),
        heartbeat=settings.heartbeat_seconds,
        client_properties={"connection_name": name},
    )
