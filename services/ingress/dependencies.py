"""What ingress's routes depend on: its live dependencies (`Ingress`: the database, the outbox,
the broker link and the intake, set up once per app) and the raw request body, as `Annotated`
types the routes name."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Annotated, Final

import structlog
from fastapi import Depends, Request

from services.ingress.intake import INGRESS_EVENTS, BrokerLink, WebhookIntake
from services.ingress.settings import IngressConfig
from services.queues import CONSUMER_QUEUES
from shared.broker import Publisher, connect
from shared.clock import Clock
from shared.mongo import create_client, ping, service_database
from shared.outbox import Outbox, OutboxRelay
from shared.worker import declare_topology

log = structlog.get_logger(__name__)

SERVICE: Final = "ingress"
_BROKER_RETRY_SECONDS: Final = 2.0


class Ingress:
    """The app's live dependencies: set up in the lifespan, used by the routes."""

    def __init__(self, config: IngressConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.client = create_client(config.mongo, app_name=SERVICE)
        self.db = service_database(self.client, config.mongo, SERVICE)
        self.outbox = Outbox(
            self.db[INGRESS_EVENTS], clock, lease_seconds=config.outbox.claim_lease_seconds
        )
        self.broker = BrokerLink()
        self.relay = OutboxRelay(
            self.outbox, self.db[INGRESS_EVENTS], self.broker, config.outbox, clock
        )
        self.intake = WebhookIntake(self.outbox, self.relay)

    async def keep_broker_connected(self, stop: asyncio.Event) -> None:
        """Connect once the broker answers; the robust connection then reconnects by itself."""
        settings = self.config.broker.model_copy(
            update={"publish_timeout_seconds": self.config.ingress.publish_timeout_seconds}
        )
        while not stop.is_set():
            try:
                connection = await connect(settings, name=SERVICE)
                await declare_topology(connection, settings, CONSUMER_QUEUES)
                self.broker.publisher = await Publisher.open(connection, settings)
            except (ConnectionError, OSError) as error:
                log.warning("broker not reachable yet", error=type(error).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), _BROKER_RETRY_SECONDS)
                continue
            self.outbox.notify()
            await stop.wait()
            self.broker.publisher = None
            await connection.close()

    async def broker_ready(self) -> None:
        if self.broker.publisher is None:
            raise ConnectionError("broker not connected")

    async def database_ready(self) -> None:
        await ping(self.client)

    def now(self) -> datetime:
        return self.clock.now()


async def _ingress(request: Request) -> Ingress:
    # async: FastAPI runs plain-function dependencies in a thread pool, a cost on every request.
    ingress: Ingress = request.app.state.ingress
    return ingress


IngressDep = Annotated[Ingress, Depends(_ingress)]


async def _body(request: Request) -> bytes:
    """The raw body (`BodyLimit` has refused it already if it is over the limit)."""
    return await request.body()


BodyDep = Annotated[bytes, Depends(_body)]
