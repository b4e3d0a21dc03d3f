"""Ingress's webhook routes: Twilio's SMS, status and voice callbacks and Stripe's events.

Each goes signature → parse → store once → publish → answer; nothing is answered 2xx before it is
durably stored. Refusals are raised as the domain errors `errors.py` maps to HTTP.
"""

from __future__ import annotations

from typing import Any, Final

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from services.ingress.dependencies import BodyDep, Ingress, IngressDep
from services.ingress.errors import ProviderNotConfigured
from services.ingress.metrics import WEBHOOKS
from services.ingress.settings import WebhookSettings
from services.ingress.signatures import SignatureInvalid, verify_stripe, verify_twilio
from services.ingress.webhooks import inbound_sms, parse_form, status_update, stripe_event
from shared.events import Envelope, Payload, new_event

log = structlog.get_logger(__name__)

EMPTY_TWIML: Final = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
VOICE_TWIML: Final = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Say>'
    "This number only answers text messages. Please send us an SMS instead."
    "</Say></Response>"
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


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


@router.post(
    "/twilio/sms",
    openapi_extra=_FORM_BODY,
    responses={200: {"content": {"text/xml": {}}}, **_ERRORS},
)
async def twilio_sms(request: Request, ingress: IngressDep, body: BodyDep) -> Response:
    """Inbound SMS/MMS → `sms.inbound.received`, once per MessageSid."""
    form = _twilio_form(request, ingress, body)
    payload = inbound_sms(form, ingress.now())
    duplicate = await _publish(ingress, payload, f"twilio:{payload.message_sid}")
    WEBHOOKS.labels("twilio_sms", "duplicate" if duplicate else "accepted").inc()
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post(
    "/twilio/status",
    openapi_extra=_FORM_BODY,
    responses=_ERRORS,
)
async def twilio_status(request: Request, ingress: IngressDep, body: BodyDep) -> Response:
    """Delivery status callback → `sms.status.updated`, once per (MessageSid, status)."""
    form = _twilio_form(request, ingress, body)
    payload = status_update(form, request.query_params.get("key"), ingress.now())
    key = f"twilio-status:{payload.message_sid}:{payload.status}"
    duplicate = await _publish(ingress, payload, key)
    WEBHOOKS.labels("twilio_status", "duplicate" if duplicate else "accepted").inc()
    return Response(status_code=204)


@router.post(
    "/twilio/voice",
    openapi_extra=_FORM_BODY,
    responses={200: {"content": {"text/xml": {}}}, **_ERRORS},
)
async def twilio_voice(request: Request, ingress: IngressDep, body: BodyDep) -> Response:
    """A phone call to our number: explain that we only text."""
    _twilio_form(request, ingress, body)
    WEBHOOKS.labels("twilio_voice", "answered").inc()
    return Response(VOICE_TWIML, media_type="text/xml")


@router.post("/stripe", openapi_extra=_JSON_BODY, responses=_ERRORS)
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
