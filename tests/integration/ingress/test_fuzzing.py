"""Ingress under generated input, over real HTTP with the real broker and database behind it:
no request may get a 5xx or raise inside the app, and every refusal is a 4xx with a JSON reason.

Schemathesis generates requests from ingress's own OpenAPI document (webhooks, ops, admin); since
those are unsigned they mostly meet the signature check, so correctly *signed* Twilio forms and
Stripe bodies are generated as well, to reach the parsers behind it. The requests are sent from a
worker thread (schemathesis and hypothesis are synchronous) while this event loop serves ingress.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode

from services.devtools.signing import stripe_signature_header, twilio_signature
from services.ingress.intake import INGRESS_EVENTS
from shared.config import BrokerSettings
from shared.events.catalog import EVENTS
from shared.mongo import Database
from tests.integration.ingress.conftest import (
    PUBLIC_BASE_URL,
    STRIPE_SECRET,
    TWILIO_TOKEN,
    RunningIngress,
    ingress_config,
    serving,
    until_ready,
)
from tests.support.fuzzing import (
    fuzz_settings,
    stripe_bodies,
    twilio_sms_forms,
    twilio_status_forms,
)

pytestmark = pytest.mark.integration

# What a request may be answered with; 413 when a generated body is over the size limit.
_ACCEPTED = {200, 202, 204}
_REFUSED = {400, 401, 403, 404, 405, 409, 413, 415, 422, 429}


def _assert_answered_well(status: int, content_type: str, body: bytes) -> None:
    """No 5xx; a refusal is a 4xx whose JSON body says why."""
    assert status < 500, f"server error {status}: {body[:300]!r}"
    assert status in _ACCEPTED | _REFUSED, f"unexpected status {status}"
    if status >= 400:
        assert content_type.startswith("application/json"), f"{status} without a JSON reason"
        reason = httpx.Response(status, content=body).json()
        assert isinstance(reason, dict)
        assert reason.get("error") or reason.get("detail")


def _assert_no_crash_logged(caplog: pytest.LogCaptureFixture) -> None:
    crashes = [r for r in caplog.records if r.name.startswith("uvicorn") and r.levelno >= 40]
    assert not crashes, crashes[0].getMessage()


async def test_schemathesis_finds_no_server_error(
    ingress: RunningIngress, caplog: pytest.LogCaptureFixture
) -> None:
    spec = (await ingress.http.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(spec)
    cases = schema.as_strategy(GenerationMode.POSITIVE) | schema.as_strategy(
        GenerationMode.NEGATIVE
    )

    @fuzz_settings(150)
    @given(case=cases)
    def generated_request_is_answered_well(case: Case[Any]) -> None:
        response = case.call(base_url=ingress.base_url, timeout=30)
        _assert_answered_well(
            response.status_code, response.headers.get("content-type", [""])[0], response.content
        )

    caplog.set_level(logging.ERROR)
    # Off the event loop, which keeps serving ingress meanwhile.
    await asyncio.to_thread(generated_request_is_answered_well)
    _assert_no_crash_logged(caplog)


@pytest.fixture
async def roomy_ingress(
    broker_settings: BrokerSettings, mongodb_url: str, mongo_db_name: str, db: Database
) -> AsyncIterator[RunningIngress]:
    """Ingress with the production body limit (64 KiB), so hostile bodies reach the parsers
    instead of stopping at 413."""
    config = ingress_config(
        broker_settings, mongodb_url, mongo_db_name, webhook_max_body_bytes=64 * 1024
    )
    async with serving(config) as running:
        await until_ready(running)
        yield running


@st.composite
def signed_requests(draw: st.DrawFn) -> tuple[str, dict[str, str], bytes]:
    """(path, headers, body) as Twilio or Stripe would send them: hostile content, genuine
    signature."""
    endpoint = draw(st.sampled_from(["sms", "status", "voice", "stripe"]))
    if endpoint == "stripe":
        body = draw(stripe_bodies())
        headers = {
            "content-type": "application/json",
            "stripe-signature": stripe_signature_header(body, [STRIPE_SECRET]),
        }
        return "/webhooks/stripe", headers, body
    form = draw(twilio_status_forms() if endpoint == "status" else twilio_sms_forms())
    path = f"/webhooks/twilio/{endpoint}"
    if endpoint == "status" and draw(st.booleans()):
        path += "?key=" + draw(st.from_regex(r"[a-z]{1,10}:[0-9a-f]{1,20}", fullmatch=True))
    body = urlencode(form).encode()
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": twilio_signature(TWILIO_TOKEN, PUBLIC_BASE_URL + path, form),
    }
    return path, headers, body


async def test_signed_hostile_webhooks_get_a_2xx_or_a_400_never_a_5xx(
    roomy_ingress: RunningIngress, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    @fuzz_settings(120)
    @given(signed_requests())
    def signed_request_is_answered_well(request: tuple[str, dict[str, str], bytes]) -> None:
        path, headers, body = request
        response = client.post(path, content=body, headers=headers)
        status = response.status_code
        _assert_answered_well(status, response.headers.get("content-type", ""), response.content)
        assert status in {200, 204, 400, 403, 413}, response.text
        if status == 403:
            # A genuine signature is refused only over a body that is not UTF-8, which the
            # Stripe SDK cannot check (Stripe always sends UTF-8).
            assert path == "/webhooks/stripe", response.text
            assert not _is_utf8(body), response.text

    caplog.set_level(logging.ERROR)
    with httpx.Client(base_url=roomy_ingress.base_url, timeout=30) as client:
        await asyncio.to_thread(signed_request_is_answered_well)
    _assert_no_crash_logged(caplog)
    # Whatever ingress accepted, its consumers can decode.
    rows = [row async for row in db[INGRESS_EVENTS].find({}, {"body": 1})]
    assert rows, "no generated webhook was accepted: the generators miss the happy path"
    for row in rows:
        EVENTS.decode(row["body"])


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
