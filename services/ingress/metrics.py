"""Ingress's webhook metrics: how many webhooks arrived, by endpoint and outcome, and how long
each took to answer. Routes count their outcomes; `WebhookMetrics` times every webhook request
and counts the refusals, whoever refused them (a signature, the size limit, the database)."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WEBHOOKS = Counter(
    "givecare_ingress_webhooks_total",
    "Webhooks received, by endpoint and outcome.",
    ["endpoint", "outcome"],
)
WEBHOOK_SECONDS = Histogram(
    "givecare_ingress_webhook_duration_seconds",
    "Time from request to answer, by endpoint.",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class WebhookMetrics:
    """Latency and non-2xx outcomes per webhook route, as plain ASGI (Starlette's
    BaseHTTPMiddleware costs a task and a memory stream per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/webhooks/"):
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, send_and_watch)
        finally:
            path = getattr(scope.get("route"), "path", "")
            if path.startswith("/webhooks/"):  # matched routes only: bounded label values
                endpoint = path.removeprefix("/webhooks/").replace("/", "_")
                WEBHOOK_SECONDS.labels(endpoint).observe(time.perf_counter() - started)
                if status >= 400:
                    WEBHOOKS.labels(endpoint, str(status)).inc()
