"""Ingress's refusals, mapped to HTTP in one place: always a JSON reason, never a secret, an
input or a message body. (The admin API under `/admin` maps its own, in
`services/admin/api/errors.py`.)
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.ingress.body_limit import PayloadTooLarge
from services.ingress.intake import StorageUnavailable
from services.ingress.signatures import SignatureInvalid
from services.ingress.webhooks import InvalidWebhook


class ProviderNotConfigured(Exception):
    """No secret to check this provider's signatures with: refuse (non-2xx) so it retries."""


def _error(status: int, error: str, **detail: Any) -> JSONResponse:
    return JSONResponse({"error": error, **detail}, status_code=status)


def exception_handlers() -> dict[
    int | type[Exception], Callable[[Request, Any], Coroutine[Any, Any, Response]]
]:
    """The app's handler for each refusal a webhook (or any request) can end in."""

    async def signature(request: Request, exc: SignatureInvalid) -> Response:
        return _error(403, "invalid_signature", detail=str(exc))

    async def too_large(request: Request, exc: PayloadTooLarge) -> Response:
        return _error(413, "payload_too_large", limit_bytes=exc.limit)

    async def invalid(request: Request, exc: InvalidWebhook) -> Response:
        return _error(400, "invalid_webhook", field=exc.field, detail=exc.detail)

    async def storage(request: Request, exc: StorageUnavailable) -> Response:
        return _error(503, "storage_unavailable", detail="not stored; please retry")

    async def not_configured(request: Request, exc: ProviderNotConfigured) -> Response:
        return _error(503, "provider_not_configured", detail=str(exc))

    async def unprocessable(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's default answer echoes each rejected input, which may be a message body or
        # a phone number: say where and why, never what.
        problems = [
            {"loc": list(item.get("loc", ())), "msg": item.get("msg"), "type": item.get("type")}
            for item in exc.errors()
        ]
        return _error(422, "invalid_request", detail=problems)

    return {
        SignatureInvalid: signature,
        PayloadTooLarge: too_large,
        InvalidWebhook: invalid,
        StorageUnavailable: storage,
        ProviderNotConfigured: not_configured,
        RequestValidationError: unprocessable,
    }
