"""A fake Stripe REST API on 127.0.0.1 that the real `stripe` SDK talks to (base-address setting).

It serves what the billing worker calls — retrieve a subscription, list events (`created` filter,
newest first, `starting_after` pagination), create a Checkout Session — and records every call,
so tests check request shapes as Stripe would see them. `python -m tests.fakes.stripe_api` runs it.
The objects and events it holds are built with `services.devtools.stripe_events`.
"""

from __future__ import annotations

import argparse
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.devtools.loopback import LOOPBACK, LoopbackServer

_MAX_LIMIT = 100


@dataclass(frozen=True)
class RecordedCall:
    """One request as the fake received it: parameters decoded from Stripe's bracket encoding."""

    method: str
    path: str
    params: dict[str, Any]
    api_key: str | None
    idempotency_key: str | None


@dataclass
class FakeStripe:
    """What the fake serves and what it was asked; tests edit it directly."""

    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    checkout_sessions: list[dict[str, Any]] = field(default_factory=list)
    calls: list[RecordedCall] = field(default_factory=list)

    def put_subscription(self, subscription: dict[str, Any]) -> None:
        self.subscriptions[subscription["id"]] = subscription

    def add_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def calls_to(self, method: str, path_prefix: str) -> list[RecordedCall]:
        return [c for c in self.calls if c.method == method and c.path.startswith(path_prefix)]

    def app(self) -> FastAPI:
        app = FastAPI(title="fake stripe", docs_url=None, redoc_url=None, openapi_url=None)

        @app.middleware("http")
        async def record(request: Request, call_next: Any) -> Any:
            if request.method == "POST":
                params = decode_brackets(parse_qsl((await request.body()).decode()))
            else:
                params = decode_brackets(parse_qsl(request.url.query))
            authorization = request.headers.get("authorization", "")
            api_key = authorization.removeprefix("Bearer ") or None
            self.calls.append(
                RecordedCall(
                    request.method,
                    request.url.path,
                    params,
                    api_key,
                    request.headers.get("idempotency-key"),
                )
            )
            if api_key is None:
                return _error(401, "authentication_error", "No API key provided.")
            request.state.params = params
            return await call_next(request)

        @app.get("/v1/subscriptions/{subscription_id}")
        async def retrieve_subscription(subscription_id: str) -> JSONResponse:
            subscription = self.subscriptions.get(subscription_id)
            if subscription is None:
                return _error(
                    404,
                    "invalid_request_error",
                    f"No such subscription: '{subscription_id}'",
                    code="resource_missing",
                )
            return JSONResponse(subscription)

        @app.get("/v1/events")
        async def list_events(request: Request) -> JSONResponse:
            params: dict[str, Any] = request.state.params
            return JSONResponse(self._event_page(params))

        @app.post("/v1/checkout/sessions")
        async def create_checkout_session(request: Request) -> JSONResponse:
            params: dict[str, Any] = request.state.params
            session_id = f"cs_test_{uuid.uuid4().hex}"
            session = {
                "id": session_id,
                "object": "checkout.session",
                "mode": params.get("mode"),
                "url": f"https://checkout.stripe.test/c/pay/{session_id}",
                "metadata": params.get("metadata", {}),
                "client_reference_id": params.get("client_reference_id"),
                "allow_promotion_codes": params.get("allow_promotion_codes") == "true",
                "success_url": params.get("success_url"),
                "cancel_url": params.get("cancel_url"),
                "status": "open",
            }
            self.checkout_sessions.append(session)
            return JSONResponse(session)

        return app

    def _event_page(self, params: dict[str, Any]) -> dict[str, Any]:
        created = params.get("created", {})
        bounds = created if isinstance(created, dict) else {"eq": created}
        types = params.get("types") or ([params["type"]] if "type" in params else None)
        newest_first = sorted(self.events, key=lambda e: (e["created"], e["id"]), reverse=True)
        matching = [e for e in newest_first if _within(e["created"], bounds)]
        if types is not None:
            matching = [e for e in matching if e["type"] in types]
        after = params.get("starting_after")
        if after is not None:
            ids = [e["id"] for e in matching]
            matching = matching[ids.index(after) + 1 :] if after in ids else []
        limit = min(int(params.get("limit", 10)), _MAX_LIMIT)
        return {
            "object": "list",
            "url": "/v1/events",
            "data": matching[:limit],
            "has_more": len(matching) > limit,
        }


def _within(created: int, bounds: dict[str, Any]) -> bool:
    checks = {
        "gte": lambda b: created >= b,
        "gt": lambda b: created > b,
        "lte": lambda b: created <= b,
        "lt": lambda b: created < b,
        "eq": lambda b: created == b,
    }
    return all(checks[op](int(value)) for op, value in bounds.items() if op in checks)


def _error(status: int, error_type: str, message: str, *, code: str | None = None) -> JSONResponse:
    error = {"type": error_type, "message": message, **({"code": code} if code else {})}
    return JSONResponse({"error": error}, status_code=status)


def decode_brackets(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`a[b][0]=x` → `{"a": {"b": ["x"]}}`: the form/query encoding the Stripe SDK uses."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        path = key.replace("]", "").split("[")
        node = root
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return {key: _lists_from_indexes(value) for key, value in root.items()}


def _lists_from_indexes(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _lists_from_indexes(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


# -- serving ---------------------------------------------------------------------------------------


class FakeStripeServer(LoopbackServer):
    """`async with FakeStripeServer() as server:` serves `server.stripe` at `server.base_url`."""

    def __init__(self, stripe: FakeStripe | None = None, *, port: int | None = None) -> None:
        self.stripe = stripe or FakeStripe()
        super().__init__(self.stripe.app(), port=port)

    @property
    def base_url(self) -> str:
        return self.url


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Stripe API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=12111)
    port = parser.parse_args().port
    print(f"fake Stripe API on http://{LOOPBACK}:{port} (STRIPE_API_BASE_URL)")
    uvicorn.run(FakeStripe().app(), host=LOOPBACK, port=port, log_level="warning")


if __name__ == "__main__":
    main()
