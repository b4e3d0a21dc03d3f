"""Ingress end to end over real HTTP, a real broker and a real database: genuine webhooks are
stored once and published once; everything else is refused with a JSON reason."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from services.devtools.signing import stripe_signature_header, twilio_signature
from services.ingress.intake import INGRESS_EVENTS
from shared.broker import connect
from shared.config import BrokerSettings
from shared.events.catalog import EVENTS, SmsInboundReceived, SmsStatusUpdated, StripeEventReceived
from shared.local_servers import LocalRabbitMQ, free_port
from shared.mongo import Database
from shared.outbox import SENT
from tests.integration.ingress.conftest import (
    PUBLIC_BASE_URL,
    STRIPE_SECRET,
    TWILIO_TOKEN,
    RunningIngress,
    ingress_config,
    serving,
)
from tests.support.servers import Infra
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

SMS_FORM = {
    "MessageSid": "SM00000000000000000000000000000001",
    "AccountSid": "AC00000000000000000000000000000001",
    "From": "+15551230000",
    "To": "+15559870000",
    "Body": "hi, I care for my mom",
    "NumMedia": "1",
    "MediaUrl0": "https://media.example/photo",
    "MediaContentType0": "image/jpeg",
}


def _signed_form(
    path: str, form: dict[str, str], *, token: str = TWILIO_TOKEN, query: str = ""
) -> tuple[bytes, dict[str, str]]:
    url = f"{PUBLIC_BASE_URL}{path}{'?' + query if query else ''}"
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": twilio_signature(token, url, form),
    }
    return urlencode(form).encode(), headers


def _stripe(event_id: str, event_type: str = "invoice.paid") -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": 1_800_000_000,
        "livemode": False,
        "data": {"object": {"id": "in_1", "customer": "cus_1"}},
    }


async def _drain(queue: AbstractQueue, *, settle: float = 0.6) -> list[AbstractIncomingMessage]:
    messages: list[AbstractIncomingMessage] = []
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    while loop.time() - quiet_since < settle:
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            await asyncio.sleep(0.05)
        else:
            messages.append(message)
            quiet_since = loop.time()
    return messages


async def test_genuine_sms_is_answered_with_twiml_and_published_once(
    ingress: RunningIngress, tap: AbstractQueue, db: Database
) -> None:
    body, headers = _signed_form("/webhooks/twilio/sms", SMS_FORM)
    response = await ingress.http.post("/webhooks/twilio/sms", content=body, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text.endswith("<Response/>")

    (message,) = await _drain(tap)
    event = EVENTS.decode(message.body)
    assert event.type == "sms.inbound.received"
    assert event.idempotency_key == f"twilio:{SMS_FORM['MessageSid']}"
    payload = event.payload
    assert isinstance(payload, SmsInboundReceived)
    assert payload.from_number == "+15551230000"
    assert payload.body == SMS_FORM["Body"]
    assert [m.url for m in payload.media] == ["https://media.example/photo"]
    row = await db[INGRESS_EVENTS].find_one({"_id": f"twilio:{SMS_FORM['MessageSid']}"})
    assert row is not None
    assert row["status"] == SENT


@pytest.mark.parametrize("tamper", ["body", "url", "token", "missing"])
async def test_forged_twilio_requests_are_refused_and_nothing_is_stored(
    ingress: RunningIngress, tap: AbstractQueue, db: Database, tamper: str
) -> None:
    form = dict(SMS_FORM)
    body, headers = _signed_form("/webhooks/twilio/sms", form)
    if tamper == "body":
        body = urlencode({**form, "Body": "something else"}).encode()
    elif tamper == "url":
        _, headers = _signed_form("/webhooks/twilio/status", form)
    elif tamper == "token":
        _, headers = _signed_form("/webhooks/twilio/sms", form, token="not-our-token")
    else:
        del headers["x-twilio-signature"]
    response = await ingress.http.post("/webhooks/twilio/sms", content=body, headers=headers)
    assert response.status_code == 403
    assert response.json()["error"] == "invalid_signature"
    assert TWILIO_TOKEN not in response.text
    assert await db[INGRESS_EVENTS].count_documents({}) == 0
    assert await _drain(tap, settle=0.3) == []


async def test_fifty_concurrent_copies_store_and_publish_one_event(
    ingress: RunningIngress, tap: AbstractQueue, db: Database
) -> None:
    body, headers = _signed_form("/webhooks/twilio/sms", SMS_FORM)
    responses = await asyncio.gather(
        *(
            ingress.http.post("/webhooks/twilio/sms", content=body, headers=headers)
            for _ in range(50)
        )
    )
    assert [r.status_code for r in responses] == [200] * 50
    assert await db[INGRESS_EVENTS].count_documents({}) == 1
    assert len(await _drain(tap)) == 1


async def test_status_callback_carries_the_outbound_key_and_dedupes_per_status(
    ingress: RunningIngress, tap: AbstractQueue
) -> None:
    path, query = "/webhooks/twilio/status", "key=reply%3Aabc"
    for status in ("sent", "delivered", "delivered"):
        form = {"MessageSid": "SM9", "MessageStatus": status, "To": "+15551230000"}
        body, headers = _signed_form(path, form, query=query)
        response = await ingress.http.post(f"{path}?{query}", content=body, headers=headers)
        assert response.status_code == 204
    events = [EVENTS.decode(m.body) for m in await _drain(tap)]
    payloads = [e.payload for e in events]
    assert all(isinstance(p, SmsStatusUpdated) for p in payloads)
    assert [(p.status, p.outbound_key) for p in payloads] == [  # type: ignore[attr-defined]
        ("sent", "reply:abc"),
        ("delivered", "reply:abc"),
    ]


async def test_stripe_event_replayed_three_times_is_published_once(
    ingress: RunningIngress, tap: AbstractQueue
) -> None:
    document = json.dumps(_stripe("evt_123", "customer.subscription.updated")).encode()
    for _ in range(3):
        response = await ingress.http.post(
            "/webhooks/stripe",
            content=document,
            headers={
                "content-type": "application/json",
                "stripe-signature": stripe_signature_header(document, [STRIPE_SECRET]),
            },
        )
        assert response.status_code == 200
        assert response.json() == {"received": True}
    (message,) = await _drain(tap)
    event = EVENTS.decode(message.body)
    assert event.type == "billing.stripe.customer.subscription.updated"
    assert isinstance(event.payload, StripeEventReceived)
    assert event.payload.data_object["id"] == "in_1"


@pytest.mark.parametrize("case", ["future", "stale", "wrong-secret"])
async def test_stripe_signature_refusals(
    ingress: RunningIngress, tap: AbstractQueue, case: str
) -> None:
    document = json.dumps(_stripe("evt_bad")).encode()
    now = int(time.time())
    header = {
        "future": stripe_signature_header(document, [STRIPE_SECRET], timestamp=now + 3_600),
        "stale": stripe_signature_header(document, [STRIPE_SECRET], timestamp=now - 3_600),
        "wrong-secret": stripe_signature_header(document, ["whsec_other"]),
    }[case]
    response = await ingress.http.post(
        "/webhooks/stripe", content=document, headers={"stripe-signature": header}
    )
    assert response.status_code == 403
    assert await _drain(tap, settle=0.3) == []


async def test_oversized_and_malformed_bodies_get_a_json_reason(
    ingress: RunningIngress, db: Database
) -> None:
    big = {**SMS_FORM, "Body": "x" * 5_000}
    body, headers = _signed_form("/webhooks/twilio/sms", big)
    response = await ingress.http.post("/webhooks/twilio/sms", content=body, headers=headers)
    assert response.status_code == 413
    assert response.json() == {"error": "payload_too_large", "limit_bytes": 4_096}

    missing_from = {k: v for k, v in SMS_FORM.items() if k != "From"}
    body, headers = _signed_form("/webhooks/twilio/sms", missing_from)
    response = await ingress.http.post("/webhooks/twilio/sms", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_webhook", "field": "From", "detail": "missing"}

    not_json = b"{not json"
    response = await ingress.http.post(
        "/webhooks/stripe",
        content=not_json,
        headers={"stripe-signature": stripe_signature_header(not_json, [STRIPE_SECRET])},
    )
    assert response.status_code == 400
    assert response.json()["field"] == "body"
    assert await db[INGRESS_EVENTS].count_documents({}) == 0


async def test_voice_calls_are_told_this_is_a_text_line(ingress: RunningIngress) -> None:
    form = {"CallSid": "CA1", "From": "+15551230000", "To": "+15559870000"}
    body, headers = _signed_form("/webhooks/twilio/voice", form)
    response = await ingress.http.post("/webhooks/twilio/voice", content=body, headers=headers)
    assert response.status_code == 200
    assert "<Say>" in response.text
    assert "text" in response.text
    unsigned = await ingress.http.post("/webhooks/twilio/voice", content=body)
    assert unsigned.status_code == 403


async def test_ops_endpoints_and_openapi_docs(ingress: RunningIngress) -> None:
    assert (await ingress.http.get("/healthz")).json() == {"status": "ok"}
    assert (await ingress.http.get("/readyz")).json() == {"status": "ready"}
    assert "givecare_ingress_webhook" in (await ingress.http.get("/metrics")).text
    assert (await ingress.http.get("/docs")).status_code == 200
    spec = (await ingress.http.get("/openapi.json")).json()
    assert {"/webhooks/twilio/sms", "/webhooks/twilio/status", "/webhooks/stripe"} <= set(
        spec["paths"]
    )


async def test_behind_a_trusted_proxy_the_signed_url_takes_its_scheme_and_the_host(
    broker_settings: BrokerSettings, mongodb_url: str, mongo_db_name: str, db: Database
) -> None:
    """Without PUBLIC_BASE_URL the URL Twilio signed is rebuilt from what arrived: the `Host`
    header and, from a proxy listed in INGRESS_FORWARDED_ALLOW_IPS only, X-Forwarded-Proto
    (uvicorn's ProxyHeadersMiddleware). X-Forwarded-Host is believed from no one."""
    base = ingress_config(broker_settings, mongodb_url, mongo_db_name, public_base_url=None)
    trusted = dataclasses.replace(
        base, ingress=base.ingress.model_copy(update={"forwarded_allow_ips": "127.0.0.1"})
    )
    form = dict(SMS_FORM)
    url = "https://sms.givecare.example/webhooks/twilio/sms"
    body = urlencode(form).encode()
    signed = {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": twilio_signature(TWILIO_TOKEN, url, form),
    }
    proxied = {**signed, "host": "sms.givecare.example", "x-forwarded-proto": "https"}
    async with serving(trusted) as running:
        response = await running.http.post("/webhooks/twilio/sms", content=body, headers=proxied)
        assert response.status_code == 200, response.text
        # The host only in X-Forwarded-Host: not believed, so the URL checked is another one.
        spoofed = {
            **signed,
            "x-forwarded-host": "sms.givecare.example",
            "x-forwarded-proto": "https",
        }
        response = await running.http.post("/webhooks/twilio/sms", content=body, headers=spoofed)
        assert response.status_code == 403
    async with serving(base) as running:
        # The same request from a peer nobody listed: https is not believed, the URL is http.
        response = await running.http.post("/webhooks/twilio/sms", content=body, headers=proxied)
        assert response.status_code == 403


async def test_database_down_answers_503_and_publishes_nothing(
    broker_settings: BrokerSettings, tap: AbstractQueue
) -> None:
    unreachable = f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"
    async with serving(ingress_config(broker_settings, unreachable, "unused")) as running:
        body, headers = _signed_form("/webhooks/twilio/sms", SMS_FORM)
        response = await running.http.post("/webhooks/twilio/sms", content=body, headers=headers)
        assert response.status_code == 503
        assert response.json()["error"] == "storage_unavailable"
        assert (await running.http.get("/readyz")).status_code == 503
    assert await _drain(tap, settle=0.5) == []


async def test_broker_outage_stores_and_answers_then_publishes_each_once_when_back(
    ingress: RunningIngress,
    tap: AbstractQueue,
    db: Database,
    rabbitmq_server: Infra[LocalRabbitMQ],
    broker_settings: BrokerSettings,
) -> None:
    node = rabbitmq_server.local
    if node is None:
        pytest.skip("needs a broker this test session started itself")
    await asyncio.to_thread(node.stop)
    try:
        for n in range(5):
            form = {**SMS_FORM, "MessageSid": f"SM{n:032d}"}
            body, headers = _signed_form("/webhooks/twilio/sms", form)
            response = await ingress.http.post(
                "/webhooks/twilio/sms", content=body, headers=headers
            )
            assert response.status_code == 200
        assert await db[INGRESS_EVENTS].count_documents({"status": "pending"}) == 5
    finally:
        await asyncio.to_thread(node.start)

    async def all_sent() -> bool:
        return await db[INGRESS_EVENTS].count_documents({"status": SENT}) == 5

    await eventually(all_sent, timeout=60)
    # The test's own connection may still be reconnecting: read the durable tap afresh.
    connection = await connect(broker_settings, name="tests-after-restart")
    channel = await connection.channel()
    messages = await _drain(await channel.declare_queue(tap.name, passive=True), settle=1.0)
    await connection.close()
    assert sorted(m.message_id or "" for m in messages) == [f"twilio:SM{n:032d}" for n in range(5)]
