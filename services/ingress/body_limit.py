"""The size limit on every request body, on every route, before anything else reads it.

An anonymous multi-GB `POST /admin/...` or `/webhooks/...` must not exhaust the pod's memory and
take webhook intake down with it, so the limit sits outside routing, authentication and parsing.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class PayloadTooLarge(HTTPException):
    """A request body over the limit. An HTTPException, so FastAPI's body parsing passes it on
    (it turns any other error while reading a body into a 400) to the handler that answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"body exceeds {limit} bytes")
        self.limit = limit


def _too_large_response(limit: int) -> JSONResponse:
    return JSONResponse({"error": "payload_too_large", "limit_bytes": limit}, status_code=413)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            # ASCII digits only ("²".isdigit() is true), at most what a 64-bit size holds: a
            # header uvicorn let through never becomes a ValueError here.
            text = value.decode("latin-1").strip()
            if text.isascii() and text.isdigit():
                return int(text) if len(text) <= 18 else 2**63
    return None


class BodyLimit:
    """Every request body, on every route (webhooks, /admin, anything unknown), refused past
    `limit` bytes with 413 before routing, authentication or parsing read it: a declared
    Content-Length over the limit at once, without reading; a streamed body as soon as the
    bytes received cross it. So an anonymous multi-GB POST costs at most `limit` bytes of
    memory, whatever route it names."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self._app = app
        self._limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        limit = self._limit
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _too_large_response(limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._app(scope, counted_receive, watched_send)
        except PayloadTooLarge:
            # Normally the app's handler answered already; this is for a reader outside it.
            if started:
                raise
            await _too_large_response(limit)(scope, receive, send)
