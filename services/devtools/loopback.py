"""Serving an ASGI app on a loopback port inside the caller's event loop.

The fake providers (Twilio, Stripe, OpenAI) and the ingress tests all need "this app, on
127.0.0.1, for the duration of a block"; this is that, once.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self

import uvicorn
from starlette.types import ASGIApp

from shared.local_servers import free_port
from shared.ops import EmbeddedServer

LOOPBACK = "127.0.0.1"


class LoopbackServer:
    """`async with LoopbackServer(app) as server:` serves `app` at `server.url`."""

    def __init__(self, app: ASGIApp, *, port: int | None = None) -> None:
        self.port = port or free_port()
        self._server = EmbeddedServer(
            uvicorn.Config(
                app,
                host=LOOPBACK,
                port=self.port,
                log_config=None,
                access_log=False,
                # As in production (services/ingress/__main__.py): an app that believes proxy
                # headers does so itself; uvicorn's default would trust 127.0.0.1's.
                proxy_headers=False,
                lifespan="auto",
                timeout_graceful_shutdown=1,
            )
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                await self._task  # raises why it could not start
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
