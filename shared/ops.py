"""Operational HTTP endpoints every service exposes: `/healthz`, `/readyz`, `/metrics`.

Ingress mounts the router in its own app; workers serve it on a small port of their own
(`OPS_PORT`) so probes and Prometheus reach them the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping

import structlog
import uvicorn
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = structlog.get_logger(__name__)

# A check raises (or times out) when its dependency is not usable.
ReadinessCheck = Callable[[], Awaitable[None]]
_CHECK_TIMEOUT_SECONDS = 2.0


def ops_router(checks: Mapping[str, ReadinessCheck]) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive (no dependency is consulted)."""
        return {"status": "ok"}

    @router.get("/readyz", responses={503: {"description": "A dependency does not answer"}})
    async def readyz() -> JSONResponse:
        """Every dependency answers; 503 names the ones that do not."""
        results = await asyncio.gather(
            *(asyncio.wait_for(check(), _CHECK_TIMEOUT_SECONDS) for check in checks.values()),
            return_exceptions=True,
        )
        failing = [name for name, result in zip(checks, results, strict=True) if result is not None]
        if failing:
            return JSONResponse({"status": "unavailable", "failing": failing}, status_code=503)
        return JSONResponse({"status": "ready"})

    # Documented as what it is: Prometheus' text format, not JSON.
    @router.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def ops_app(checks: Mapping[str, ReadinessCheck]) -> FastAPI:
    app = FastAPI(title="ops", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(ops_router(checks))
    return app


class EmbeddedServer(uvicorn.Server):
    """uvicorn inside a process that handles SIGTERM itself (`shared.lifecycle`)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_ops(app: FastAPI, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve `app` until `stop` is set."""
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
    server = EmbeddedServer(config)
    task = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await task
