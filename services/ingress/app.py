"""The ingress HTTP app: the only door the internet has into GiveCare.

Every request, on every route, first passes the trusted-proxy rewrite (uvicorn's own
middleware) and the body-size limit (`body_limit.py`), before anything authenticates or parses
it. The webhook routes are in `routes.py`, what they depend on in `dependencies.py`, their
refusals' answers in `errors.py` and their metrics in `metrics.py`; the admin API is mounted
under `/admin` with its own authentication (`services/admin/api`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from pymongo.errors import PyMongoError
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from services.admin.api import mount_admin
from services.admin.wiring import AdminConfig
from services.ingress import routes
from services.ingress.body_limit import BodyLimit
from services.ingress.dependencies import SERVICE, Ingress
from services.ingress.errors import exception_handlers
from services.ingress.intake import INGRESS_EVENTS
from services.ingress.metrics import WebhookMetrics
from services.ingress.settings import IngressConfig
from shared.clock import Clock, SystemClock
from shared.config import LoggingSettings, load_settings
from shared.logging import configure_logging
from shared.mongo import ensure_indexes, require_transactions
from shared.ops import ops_router
from shared.outbox import outbox_indexes
from shared.state_metrics import outbox_backlog_probe, refresh_periodically
from shared.tracing import configure_tracing, instrument_app, shutdown_tracing


def create_app(config: IngressConfig | None = None, clock: Clock | None = None) -> FastAPI:
    """Build the app; without arguments (uvicorn's factory) it reads the environment."""
    if config is None:
        logging_settings = load_settings(LoggingSettings)
        configure_logging(SERVICE, level=logging_settings.level, json=logging_settings.as_json)
        configure_tracing(SERVICE)  # before the app's clients, which the instrumentations see
        config = IngressConfig.from_environment()
    config.check()
    ingress = Ingress(config, clock or SystemClock())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        with contextlib.suppress(PyMongoError):
            # A standalone server is refused at once (TransactionsUnavailable); one that is not
            # up yet is not: requests answer 503 until it is.
            await require_transactions(ingress.client)
        with contextlib.suppress(Exception):
            # Indexes are applied when the database is up; requests answer 503 until then.
            await ensure_indexes(
                ingress.db, outbox_indexes(config.mongo.outbox_retention_days, INGRESS_EVENTS)
            )
        backlog = outbox_backlog_probe(ingress.db[INGRESS_EVENTS], ingress.clock, SERVICE)
        tasks = [
            asyncio.create_task(ingress.keep_broker_connected(stop)),
            asyncio.create_task(ingress.relay.run(stop)),
            asyncio.create_task(refresh_periodically([("outbox", backlog)], stop)),
        ]
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await ingress.client.close()
            shutdown_tracing()

    app = FastAPI(
        title="GiveCare ingress",
        description="Verified, deduplicated, durable webhooks from Twilio and Stripe; the admin "
        "API under /admin.",
        version="1",
        lifespan=lifespan,
        exception_handlers=exception_handlers(),
    )
    app.state.ingress = ingress
    instrument_app(app)
    # Added last = outermost: proxies are resolved first, then the size limit, then metrics.
    app.add_middleware(WebhookMetrics)
    app.add_middleware(BodyLimit, limit=config.webhooks.webhook_max_body_bytes)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=config.ingress.trusted_proxies)
    app.include_router(
        ops_router({"broker": ingress.broker_ready, "database": ingress.database_ready})
    )
    app.include_router(routes.router)
    # The admin API (docs/admin.md) shares this HTTP service, under its own authentication.
    mount_admin(
        app, AdminConfig.from_environment(broker=config.broker, mongo=config.mongo), ingress.clock
    )
    return app
