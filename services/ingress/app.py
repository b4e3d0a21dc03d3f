"""The ingress HTTP app: the only door the internet has into GiveCare.

Every request, on every route, first passes the trusted-proxy rewrite (uvicorn's own
middleware) and the body-size limit, before anything authenticates or parses it. Every webhook
then goes signature → parse → store once → publish → answer. Nothing is answered 2xx before it is
durably stored; a database outage answers 503 so the provider retries. Errors map to HTTP in one
place (`_error_handlers`), always as a JSON reason without secrets, inputs or message bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

import structlog
from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Counter, Histogram
from pymongo.errors import PyMongoError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from services.admin.api import admin_router
from services.admin.wiring import AdminConfig
from services.ingress.intake import (
    INGRESS_EVENTS,
    BrokerLink,
    StorageUnavailable,
    WebhookIntake,
)
from services.ingress.settings import IngressSettings, WebhookSettings
from services.ingress.signatures import SignatureInvalid, verify_stripe, verify_twilio
from services.ingress.webhooks import (
    InvalidWebhook,
    inbound_sms,
    parse_form,
    status_update,
    stripe_event,
)
from services.queues import CONSUMER_QUEUES
from shared.broker import Publisher, connect
from shared.clock import Clock, SystemClock
from shared.config import (
    BrokerSettings,
    ConfigError,
    LoggingSettings,
    MongoSettings,
    OutboxSettings,
    StripeSettings,
    TwilioSettings,
    is_loopback_host,
    load_settings,
)
from shared.events import Envelope, Payload, new_event
from shared.logging import configure_logging
from shared.mongo import (
    create_client,
    ensure_indexes,
    ping,
    require_transactions,
    service_database,
)
from shared.ops import ops_router
from shared.outbox import Outbox, OutboxRelay, outbox_indexes
from shared.state_metrics import outbox_backlog_probe, refresh_periodically
from shared.tracing import configure_tracing, instrument_app, shutdown_tracing
from shared.worker import declare_topology

log = structlog.get_logger(__name__)

SERVICE = "ingress"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
VOICE_TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Say>'
    "This number only answers text messages. Please send us an SMS instead."
    "</Say></Response>"
)
_BROKER_RETRY_SECONDS = 2.0

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


class ProviderNotConfigured(Exception):
    """No secret to check this provider's signatures with: refuse (non-2xx) so it retries."""


@dataclass(frozen=True)
class IngressConfig:
    """Everything the app reads from the environment, loaded once."""

    ingress: IngressSettings
    webhooks: WebhookSettings
    twilio: TwilioSettings
    stripe: StripeSettings
    broker: BrokerSettings
    mongo: MongoSettings
    outbox: OutboxSettings

    @classmethod
    def from_environment(cls) -> IngressConfig:
        return cls(
            ingress=load_settings(IngressSettings),
            webhooks=load_settings(WebhookSettings),
            twilio=load_settings(TwilioSettings),
            stripe=load_settings(StripeSettings),
            broker=load_settings(BrokerSettings),
            mongo=load_settings(MongoSettings),
            outbox=load_settings(OutboxSettings),
        )

    def check(self) -> None:
        """Refuse to run without a way to verify Twilio, and refuse the insecure flag anywhere
        but on a loopback address: the flag accepts anyone's forged webhooks."""
        if self.webhooks.insecure_skip_signature_check:
            base = self.webhooks.public_base_url
            if not (
                base
                and is_loopback_host(urlsplit(base).hostname)
                and is_loopback_host(self.ingress.host)
            ):
                raise ConfigError(
                    "invalid configuration: INSECURE_SKIP_SIGNATURE_CHECK: refused unless "
                    "PUBLIC_BASE_URL and INGRESS_HOST are loopback addresses (localhost, "
                    "127.0.0.1, ::1): unsigned webhooks are for development on one machine"
                )
            return
        if not self.twilio.webhook_token_list:
            raise ConfigError(
                "invalid configuration: TWILIO_AUTH_TOKEN: required to verify webhooks "
                "(or set INSECURE_SKIP_SIGNATURE_CHECK=true for local development only)"
            )


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


def signed_url(request: Request, settings: WebhookSettings) -> str:
    """The URL Twilio called, which is what it signed — not necessarily what we received:
    `PUBLIC_BASE_URL` + path + query, else the URL as received (its scheme from a trusted
    proxy's X-Forwarded-Proto, through uvicorn's middleware; its host from `Host`)."""
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/") + path
    return str(request.url)


def _twilio_form(request: Request, ingress: Ingress, body: bytes) -> dict[str, str]:
    form = parse_form(body)
    webhooks = ingress.config.webhooks
    if webhooks.insecure_skip_signature_check:
        log.warning("INSECURE: Twilio signature not checked", path=request.url.path)
        return form
    url = signed_url(request, webhooks)
    try:
        verify_twilio(
            ingress.config.twilio.webhook_token_list,
            url,
            form,
            request.headers.get("x-twilio-signature"),
            request.headers.get("x-twilio-webhooks-signature-settings"),
        )
    except SignatureInvalid:
        # The usual cause of false 403s is a URL mismatch behind a proxy: say which we checked.
        log.warning("twilio signature rejected", signed_url=url)
        raise
    return form


async def _publish(
    ingress: Ingress, payload: Payload, dedupe_key: str, event_type: str | None = None
) -> bool:
    event: Envelope[Any] = new_event(
        payload, event_type=event_type, idempotency_key=dedupe_key, occurred_at=ingress.now()
    )
    outcome = await ingress.intake.accept(event, dedupe_key)
    log.info(
        "webhook accepted",
        event_type=event.type,
        event_id=str(event.id),
        duplicate=outcome.duplicate,
        published=outcome.published,
    )
    return outcome.duplicate


_FORM_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "additionalProperties": {"type": "string"}}
            }
        },
    }
}
_JSON_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Genuine but malformed: the JSON body names the field"},
    403: {"description": "Missing or invalid signature"},
    413: {"description": "Body over the size limit"},
    503: {"description": "Not stored (database unavailable): retry"},
}


def _register_routes(app: FastAPI) -> None:
    @app.post(
        "/webhooks/twilio/sms",
        openapi_extra=_FORM_BODY,
        responses={200: {"content": {"text/xml": {}}}, **_ERRORS},
        tags=["webhooks"],
    )
    async def twilio_sms(request: Request, ingress: IngressDep, body: BodyDep) -> Response:
        """Inbound SMS/MMS → `sms.inbound.received`, once per MessageSid."""
        form = _twilio_form(request, ingress, body)
        payload = inbound_sms(form, ingress.now())
        duplicate = await _publish(ingress, payload, f"twilio:{payload.message_sid}")
        WEBHOOKS.labels("twilio_sms", "duplicate" if duplicate else "accepted").inc()
        return Response(EMPTY_TWIML, media_type="text/xml")

    @app.post(
        "/webhooks/twilio/status",
        openapi_extra=_FORM_BODY,
        responses=_ERRORS,
        tags=["webhooks"],
    )
    async def twilio_status(request: Request, ingress: IngressDep, body: BodyDep) -> Response:
        """Delivery status callback → `sms.status.updated`, once per (MessageSid, status)."""
        form = _twilio_form(request, ingress, body)
        payload = status_update(form, request.query_params.get("key"), ingress.now())
        key = f"twilio-status:{payload.message_sid}:{payload.status}"
        duplicate = await _publish(ingress, payload, key)
        WEBHOOKS.labels("twilio_status", "duplicate" if duplicate else "accepted").inc()
        return Response(status_code=204)

    @app.post(
        "/webhooks/twilio/voice",
        openapi_extra=_FORM_BODY,
        responses={200: {"content": {"text/xml": {}}}, **_ERRORS},
        tags=["webhooks"],
    )
    async def twilio_voice(request: Request, ingress: IngressDep, body: BodyDep) -> Response:
        """A phone call to our number: explain that we only text."""
        _twilio_form(request, ingress, body)
        WEBHOOKS.labels("twilio_voice", "answered").inc()
        return Response(VOICE_TWIML, media_type="text/xml")

    @app.post("/webhooks/stripe", openapi_extra=_JSON_BODY, responses=_ERRORS, tags=["webhooks"])
    async def stripe_webhook(request: Request, ingress: IngressDep, body: BodyDep) -> JSONResponse:
        """Stripe event → `billing.stripe.<type>`, once per Stripe event id."""
        config = ingress.config
        if config.webhooks.insecure_skip_signature_check:
            log.warning("INSECURE: Stripe signature not checked")
        elif not config.stripe.webhook_secret_list:
            raise ProviderNotConfigured("STRIPE_WEBHOOK_SECRET is not set")
        else:
            verify_stripe(
                body,
                request.headers.get("stripe-signature"),
                config.stripe.webhook_secret_list,
                tolerance_seconds=config.stripe.webhook_tolerance_seconds,
                max_future_skew_seconds=config.webhooks.stripe_max_future_skew_seconds,
            )
        payload = stripe_event(body, ingress.now())
        duplicate = await _publish(
            ingress,
            payload,
            f"stripe:{payload.stripe_event_id}",
            event_type=f"billing.stripe.{payload.stripe_type}",
        )
        WEBHOOKS.labels("stripe", "duplicate" if duplicate else "accepted").inc()
        return JSONResponse({"received": True})


def _error(status: int, error: str, **detail: Any) -> JSONResponse:
    return JSONResponse({"error": error, **detail}, status_code=status)


def _error_handlers() -> dict[
    int | type[Exception], Callable[[Request, Any], Coroutine[Any, Any, Response]]
]:
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
        tasks = [
            asyncio.create_task(ingress.keep_broker_connected(stop)),
            asyncio.create_task(ingress.relay.run(stop)),
            asyncio.create_task(
                refresh_periodically(
                    [
                        (
                            "outbox",
                            outbox_backlog_probe(
                                ingress.db[INGRESS_EVENTS], ingress.clock, SERVICE
                            ),
                        )
                    ],
                    stop,
                )
            ),
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
        description="Verified, deduplicated, durable webhooks from Twilio and Stripe.",
        version="1",
        lifespan=lifespan,
        exception_handlers=_error_handlers(),
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
    _register_routes(app)
    # The admin API (docs/admin.md) shares this public HTTP service, under its own auth.
    admin = AdminConfig.from_environment(broker=config.broker, mongo=config.mongo)
    app.include_router(admin_router(admin, ingress.clock), prefix="/admin")

    return app
