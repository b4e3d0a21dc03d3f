"""The original design, as a baseline for the ingress benchmark: one FastAPI handler that does
all the work of an inbound SMS before it answers Twilio.

Per request: verify the signature, find or create the user, write the message and the profile,
decide and compose the reply, call Twilio (the fake) for each SMS, then answer. The work is the
product's own — the same parsers, signature check, `InboundSms.plan`/`apply` (rules, responder,
idempotent writes) and Twilio transport — so only *where* it runs differs: here inside the
request, in the product behind a durable event. There is no broker, inbox, outbox or send
ledger, which flatters the baseline.

`python -m bench.baselines.inline_ingress` serves it on `INGRESS_PORT`, configured like the
services (MONGODB_*, TWILIO_*, PUBLIC_BASE_URL, SMS_*).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pymongo.asynchronous.client_session import AsyncClientSession

from services.ingress.routes import EMPTY_TWIML, signed_url
from services.ingress.settings import IngressSettings, WebhookSettings
from services.ingress.signatures import SignatureInvalid, verify_twilio
from services.ingress.webhooks import InvalidWebhook, inbound_sms, parse_form
from services.sms_sender.transport import OutgoingSms, TwilioTransport
from services.sms_worker.bootstrap import SERVICE as SMS_WORKER
from services.sms_worker.domain.responder import RulesResponder
from services.sms_worker.handlers import InboundConfig, InboundPlan, InboundSms, ProfileChanged
from services.sms_worker.settings import SmsWorkerSettings
from services.sms_worker.storage import sms_worker_indexes
from services.sms_worker.unit_of_work import MongoSmsRepositories
from shared.clock import SystemClock
from shared.config import (
    LinkSettings,
    LoggingSettings,
    MongoSettings,
    SubscriptionSettings,
    TwilioSettings,
    load_settings,
)
from shared.events import Envelope, new_event
from shared.events.catalog import SmsInboundReceived, SmsOutboundRequested
from shared.inbox import MAX_PLANS
from shared.logging import configure_logging
from shared.mongo import (
    Database,
    MongoClient,
    atomic_writes,
    create_client,
    ensure_indexes,
    ping,
    service_database,
)
from shared.ops import ops_router

SERVICE = "inline_baseline"


class InlineEffects(MongoSmsRepositories):
    """The handler's unit of work without an outbox: the product's repositories in the same
    transaction, and emitted events kept here, to be acted on at once after the commit."""

    def __init__(self, db: Database, session: AsyncClientSession) -> None:
        super().__init__(db, session)
        self.emitted: list[Envelope[Any]] = []

    async def emit(self, event: Envelope[Any]) -> None:
        self.emitted.append(event)


@dataclass(frozen=True)
class _Config:
    webhooks: WebhookSettings
    twilio: TwilioSettings
    mongo: MongoSettings
    sms: SmsWorkerSettings
    subscriptions: SubscriptionSettings
    links: LinkSettings


class InlineHandler:
    """Everything one inbound SMS causes, done before the webhook is answered."""

    def __init__(
        self, handler: InboundSms, client: MongoClient, db: Database, transport: TwilioTransport
    ) -> None:
        self._handler = handler
        self._atomic = atomic_writes(client)
        self._db = db
        self._transport = transport

    async def handle(self, event: Envelope[SmsInboundReceived]) -> None:
        for _ in range(MAX_PLANS):
            plan = await self._handler.plan(event)

            async def apply(session: AsyncClientSession, plan: InboundPlan = plan) -> InlineEffects:
                effects = InlineEffects(self._db, session)
                await self._handler.apply(event, plan, effects)
                return effects

            try:
                effects = await self._atomic(apply)
            except ProfileChanged:
                continue
            for emitted in effects.emitted:
                if isinstance(emitted.payload, SmsOutboundRequested):
                    request = emitted.payload
                    await self._transport.send(
                        OutgoingSms(
                            emitted.idempotency_key, request.to_number, request.body, request.kind
                        )
                    )
            return
        raise ProfileChanged(f"profile kept changing over {MAX_PLANS} plans")


def create_app() -> FastAPI:
    logging_settings = load_settings(LoggingSettings)
    configure_logging(SERVICE, level=logging_settings.level, json=logging_settings.as_json)
    config = _Config(
        webhooks=load_settings(WebhookSettings),
        twilio=load_settings(TwilioSettings),
        mongo=load_settings(MongoSettings),
        sms=load_settings(SmsWorkerSettings),
        subscriptions=load_settings(SubscriptionSettings),
        links=load_settings(LinkSettings),
    )
    if config.twilio.auth_token is None:
        raise SystemExit("TWILIO_AUTH_TOKEN is required (it signs and verifies the webhooks)")
    auth_token = config.twilio.auth_token.get_secret_value()
    clock = SystemClock()
    client = create_client(config.mongo, app_name=SERVICE)
    db = service_database(client, config.mongo, SMS_WORKER)
    transport = TwilioTransport(config.twilio)
    handler = InlineHandler(
        InboundSms(
            MongoSmsRepositories(db),
            RulesResponder(config.sms.reply_max_chars),
            clock,
            InboundConfig.of(
                config.sms, config.links, subscriptions_enabled=config.subscriptions.enabled
            ),
        ),
        client,
        db,
        transport,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ensure_indexes(db, sms_worker_indexes())
        try:
            yield
        finally:
            await transport.close()
            await client.close()

    async def database_ready() -> None:
        await ping(client)

    async def signature_invalid(request: Request, exc: SignatureInvalid) -> Response:
        return JSONResponse({"error": "invalid_signature", "detail": str(exc)}, status_code=403)

    async def invalid_webhook(request: Request, exc: InvalidWebhook) -> Response:
        return JSONResponse({"error": "invalid_webhook", "field": exc.field}, status_code=400)

    app = FastAPI(
        title="inline baseline",
        lifespan=lifespan,
        exception_handlers={
            SignatureInvalid: signature_invalid,
            InvalidWebhook: invalid_webhook,
        },
    )
    app.include_router(ops_router({"database": database_ready}))

    @app.post("/webhooks/twilio/sms")
    async def twilio_sms(request: Request) -> Response:
        form = parse_form(await request.body())
        verify_twilio(
            auth_token,
            signed_url(request, config.webhooks),
            form,
            request.headers.get("x-twilio-signature"),
        )
        payload = inbound_sms(form, clock.now())
        await handler.handle(new_event(payload, idempotency_key=f"twilio:{payload.message_sid}"))
        return Response(EMPTY_TWIML, media_type="text/xml")

    return app


def main() -> int:
    settings = load_settings(IngressSettings)
    uvicorn.run(
        "bench.baselines.inline_ingress:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
