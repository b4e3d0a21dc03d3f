"""Trying to break in at the edges of ingress, in process (httpx's ASGI transport, no servers):
oversized anonymous bodies on every route, forged and replayed signatures, spoofed forwarding
headers and unbounded numbers. The database is an address nobody answers at, with a short
timeout: a request that got past the edge it is testing answers 503 (it wanted to store or
authenticate), one that did not is refused before anything touches the database."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any
from urllib.parse import urlencode

import httpx
import pydantic
import pytest
from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute
from twilio.request_validator import HMAC_SHA256, RequestValidator

from services.admin.api import BOOTSTRAP, ROLE_EXTENSION
from services.admin.api.deps import Authorized, client_of
from services.admin.auth import Actor, Role
from services.admin.schemas import MAX_ROWS, MAX_SMS_CHARS
from services.admin.settings import AdminSettings
from services.devtools.signing import stripe_signature_header, twilio_signature
from services.ingress.app import create_app
from services.ingress.settings import IngressConfig, IngressSettings, WebhookSettings
from shared.config import (
    BrokerSettings,
    MongoSettings,
    OutboxSettings,
    SenderSettings,
    StripeSettings,
    TwilioSettings,
)

LIMIT = 4_096
TOKEN = "current-twilio-auth-token"
NEXT_TOKEN = "next-twilio-auth-token"
SHARED_KEY = "twilio-sharedkey-secret"
STRIPE_SECRET = "whsec_current"
PUBLIC = "https://sms.givecare.example"
# Nothing listens there: whatever reaches the database fails fast (503), never hangs.
NO_DATABASE = "mongodb://127.0.0.1:9/?directConnection=true"
SMS = {
    "MessageSid": "SM00000000000000000000000000000001",
    "AccountSid": "AC00000000000000000000000000000001",
    "From": "+15551230000",
    "To": "+15559870000",
    "Body": "hello",
    "NumMedia": "0",
}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _config(**ingress: Any) -> IngressConfig:
    return IngressConfig(
        ingress=IngressSettings(**ingress),
        webhooks=WebhookSettings(public_base_url=PUBLIC, webhook_max_body_bytes=LIMIT),
        twilio=TwilioSettings(auth_token=TOKEN, webhook_auth_tokens=f"{NEXT_TOKEN},{SHARED_KEY}"),
        stripe=StripeSettings(webhook_secret=STRIPE_SECRET),
        broker=BrokerSettings(),
        mongo=MongoSettings(url=NO_DATABASE, server_selection_timeout_ms=100),
        outbox=OutboxSettings(),
    )


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app(_config())


def _client(app: FastAPI, peer: str = "198.51.100.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 40_000))
    return httpx.AsyncClient(transport=transport, base_url="http://ingress.internal", timeout=30)


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app) as client:
        yield client


_PATH_VALUES = {"user_ref": "+15555550199", "role": "support"}


def _operations(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, concrete path) of every operation in the OpenAPI document, the documentation
    pages and a path nobody serves."""
    for path, methods in app.openapi()["paths"].items():
        concrete = re.sub(r"\{(\w+)\}", lambda m: _PATH_VALUES.get(m.group(1), "x"), path)
        for method in methods:
            yield method.upper(), concrete
    yield from (("GET", "/docs"), ("GET", "/openapi.json"), ("POST", "/no/such/route"))


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute, also those of included routers (FastAPI keeps those behind a wrapper)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _api_routes(included.routes)


def _assert_too_large(answer: httpx.Response) -> None:
    assert answer.status_code == 413, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {"error": "payload_too_large", "limit_bytes": LIMIT}


# --- size ------------------------------------------------------------------------------------


async def test_every_route_refuses_a_declared_oversized_body_before_anything_else(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    operations = list(_operations(app))
    assert len(operations) >= 25  # webhooks, ops, docs and every /admin operation
    big = b"x" * (LIMIT + 1)
    started = time.monotonic()
    for method, path in operations:
        answer = await http.request(method, path, content=big, headers=FORM)
        _assert_too_large(answer)
    # Refused without authenticating or storing: nothing waited for the database.
    assert time.monotonic() - started < 5


async def test_a_lying_content_length_of_any_size_is_refused_without_reading(
    http: httpx.AsyncClient,
) -> None:
    for declared in (str(LIMIT + 1), "9" * 18, "9" * 40):
        answer = await http.post(
            "/admin/bootstrap", content=b"{}", headers={"content-length": declared}
        )
        _assert_too_large(answer)


async def test_a_streamed_body_is_cut_off_at_the_limit_on_every_route(app: FastAPI) -> None:
    """Chunked, with no Content-Length to check first: the app never pulls much more than the
    limit, whatever the route (one that never reads a body, like /healthz, simply answers),
    and a route that reads a body answers 413."""
    chunk = b"y" * 1_024
    async with _client(app) as http:
        for method, path in _operations(app):
            if method == "GET":
                continue  # nothing reads a GET's body (the declared-length test covers them)
            pulled = 0

            async def flood() -> AsyncIterator[bytes]:
                nonlocal pulled
                for _ in range(1_000):  # a megabyte, if anyone read it all
                    pulled += len(chunk)
                    yield chunk

            answer = await http.request(method, path, content=flood(), headers=FORM)
            assert pulled <= LIMIT + 2 * len(chunk), (method, path, pulled)
            if path.startswith("/webhooks/") or (method, path) == ("POST", "/admin/bootstrap"):
                _assert_too_large(answer)


async def test_a_body_at_the_limit_is_read(http: httpx.AsyncClient) -> None:
    # Exactly at the limit passes the size check and meets the signature check.
    answer = await http.post("/webhooks/twilio/sms", content=b"a=" + b"b" * (LIMIT - 2))
    assert answer.status_code == 403


# --- signatures ------------------------------------------------------------------------------


def _signed_sms(url: str, token: str = TOKEN, form: dict[str, str] = SMS) -> dict[str, str]:
    return {**FORM, "X-Twilio-Signature": twilio_signature(token, url, form)}


@pytest.mark.parametrize("token", [TOKEN, NEXT_TOKEN])
async def test_each_configured_twilio_token_passes_the_signature_check(
    http: httpx.AsyncClient, token: str
) -> None:
    url = f"{PUBLIC}/webhooks/twilio/sms"
    answer = await http.post(
        url.removeprefix(PUBLIC), content=urlencode(SMS), headers=_signed_sms(url, token)
    )
    # Past the signature: it wanted to store the event, and the database is away.
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == "storage_unavailable"


async def test_hmac_sha256_with_a_shared_key_passes_when_the_request_names_it(
    http: httpx.AsyncClient,
) -> None:
    url = f"{PUBLIC}/webhooks/twilio/sms"
    signature = RequestValidator(SHARED_KEY).compute_signature(url, SMS, HMAC_SHA256)
    settings = f"key=KS0001,algorithm={HMAC_SHA256}"
    headers = {**FORM, "X-Twilio-Signature": signature}
    named = {**headers, "X-Twilio-Webhooks-Signature-Settings": settings}
    assert (
        await http.post("/webhooks/twilio/sms", content=urlencode(SMS), headers=named)
    ).status_code == 503
    # The same signature read as SHA-1, or under an algorithm nobody knows, is refused.
    assert (
        await http.post("/webhooks/twilio/sms", content=urlencode(SMS), headers=headers)
    ).status_code == 403
    unknown = {**headers, "X-Twilio-Webhooks-Signature-Settings": "key=KS0001,algorithm=ROT13"}
    refused = await http.post("/webhooks/twilio/sms", content=urlencode(SMS), headers=unknown)
    assert refused.status_code == 403
    assert refused.json()["error"] == "invalid_signature"


@pytest.mark.parametrize(
    "forgery",
    ["no signature", "wrong token", "tampered body", "other endpoint", "other host", "garbage"],
)
async def test_forged_and_replayed_twilio_signatures_are_refused(
    http: httpx.AsyncClient, forgery: str
) -> None:
    url = f"{PUBLIC}/webhooks/twilio/sms"
    form, path, headers = dict(SMS), "/webhooks/twilio/sms", _signed_sms(url)
    if forgery == "no signature":
        del headers["X-Twilio-Signature"]
    elif forgery == "wrong token":
        headers = _signed_sms(url, "retired-twilio-auth-token")
    elif forgery == "tampered body":
        form["Body"] = "send me everything"
    elif forgery == "other endpoint":
        # A genuine status callback's signature replayed as an inbound SMS.
        headers = _signed_sms(f"{PUBLIC}/webhooks/twilio/status")
    elif forgery == "other host":
        headers = _signed_sms("https://attacker.example/webhooks/twilio/sms")
    else:
        headers = {**FORM, "X-Twilio-Signature": "A" * 27 + "="}
    answer = await http.post(path, content=urlencode(form), headers=headers)
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"] == "invalid_signature"
    assert form["Body"] not in answer.text
    assert TOKEN not in answer.text


@pytest.mark.parametrize("forgery", ["old", "future", "retired secret", "tampered", "garbage"])
async def test_forged_and_replayed_stripe_signatures_are_refused(
    http: httpx.AsyncClient, forgery: str
) -> None:
    body = json.dumps({"id": "evt_1", "type": "invoice.paid", "created": 1}).encode()
    now = int(time.time())
    header = {
        "old": stripe_signature_header(body, [STRIPE_SECRET], timestamp=now - 3_600),
        "future": stripe_signature_header(body, [STRIPE_SECRET], timestamp=now + 3_600),
        "retired secret": stripe_signature_header(body, ["whsec_retired"]),
        "tampered": stripe_signature_header(body, [STRIPE_SECRET]),
        "garbage": "t=abc,v1=zz",
    }[forgery]
    sent = (
        body.replace(b"invoice.paid", b"invoice.payment_failed") if forgery == "tampered" else body
    )
    answer = await http.post("/webhooks/stripe", content=sent, headers={"Stripe-Signature": header})
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"] == "invalid_signature"


# --- forwarding headers ------------------------------------------------------------------------


def _whoami_app(**ingress: Any) -> FastAPI:
    """Ingress with one extra route that reports what the admin would take the client to be."""
    app = create_app(_config(**ingress))

    @app.get("/_whoami")
    async def whoami(request: Request) -> dict[str, str]:
        return {"client": client_of(request), "scheme": request.url.scheme}

    return app


async def test_forwarding_headers_from_an_untrusted_peer_are_ignored() -> None:
    app = _whoami_app()  # INGRESS_FORWARDED_ALLOW_IPS empty: trust no one
    async with _client(app, peer="198.51.100.7") as http:
        answer = await http.get(
            "/_whoami",
            headers={"X-Forwarded-For": "203.0.113.1", "X-Forwarded-Proto": "https"},
        )
    assert answer.json() == {"client": "198.51.100.7", "scheme": "http"}


async def test_behind_trusted_proxies_the_client_is_the_rightmost_untrusted_hop() -> None:
    app = _whoami_app(forwarded_allow_ips="10.0.0.0/8")
    async with _client(app, peer="10.0.0.2") as http:
        # The caller wrote "6.6.6.6" itself; the proxies appended the caller's real address
        # (203.0.113.9) and their own. Only the rightmost untrusted entry is believed.
        answer = await http.get(
            "/_whoami",
            headers={
                "X-Forwarded-For": "6.6.6.6, 203.0.113.9, 10.0.0.3",
                "X-Forwarded-Proto": "https",
            },
        )
    assert answer.json() == {"client": "203.0.113.9", "scheme": "https"}


async def test_a_spoofed_forwarded_host_does_not_change_the_url_twilio_signed() -> None:
    """Without PUBLIC_BASE_URL the URL is the one received; X-Forwarded-Host is believed from
    no one, and X-Forwarded-Proto only from a trusted proxy."""
    bare = _config().webhooks.model_copy(update={"public_base_url": None})
    untrusted = create_app(dataclasses.replace(_config(), webhooks=bare))
    trusted = create_app(
        dataclasses.replace(_config(forwarded_allow_ips="10.0.0.2"), webhooks=bare)
    )
    real = "https://sms.givecare.example/webhooks/twilio/sms"
    spoofed = {"X-Forwarded-Host": "attacker.example", "X-Forwarded-Proto": "https"}
    attacker_signed = _signed_sms("https://attacker.example/webhooks/twilio/sms")
    host = {"Host": "sms.givecare.example"}
    async with _client(untrusted, peer="10.0.0.2") as http:
        sent = await http.post(
            "/webhooks/twilio/sms",
            content=urlencode(SMS),
            headers={**attacker_signed, **spoofed, **host},
        )
        assert sent.status_code == 403
        # https claimed by an untrusted peer: the URL stays http, so the https signature fails.
        sent = await http.post(
            "/webhooks/twilio/sms",
            content=urlencode(SMS),
            headers={**_signed_sms(real), **spoofed, **host},
        )
        assert sent.status_code == 403
    async with _client(trusted, peer="10.0.0.2") as http:
        sent = await http.post(
            "/webhooks/twilio/sms",
            content=urlencode(SMS),
            headers={**_signed_sms(real), "X-Forwarded-Proto": "https", **host},
        )
        assert sent.status_code == 503  # past the signature: the database is away


# --- credentials ---------------------------------------------------------------------------------


def test_the_admin_credentials_are_bearer_schemes_each_route_names(app: FastAPI) -> None:
    document = app.openapi()
    schemes = document["components"]["securitySchemes"]
    assert {name: (s["type"], s["scheme"]) for name, s in schemes.items()} == {
        "ApiToken": ("http", "bearer"),
        "BootstrapToken": ("http", "bearer"),
    }
    for path, operations in document["paths"].items():
        for operation in operations.values():
            if not path.startswith("/admin/"):
                assert "security" not in operation, path  # webhooks are signed, not bearers
            elif operation[ROLE_EXTENSION] == BOOTSTRAP:
                assert operation["security"] == [{"BootstrapToken": []}], path
            else:
                assert operation["security"] == [{"ApiToken": []}], path


# --- numbers ---------------------------------------------------------------------------------


@pytest.fixture
def as_admin(app: FastAPI) -> Iterator[None]:
    """Every admin route's role check answered with an admin, so validation is what is tested
    (the roles themselves: tests/integration/admin/test_authz.py, with real tokens)."""
    actor = Actor(kind="token", id="t1", operator_id="op1", roles=frozenset({Role.ADMIN}))
    overridden = 0
    for route in _api_routes(app.routes):
        for dependency in route.dependant.dependencies:
            if isinstance(dependency.call, Authorized):
                app.dependency_overrides[dependency.call] = lambda: actor
                overridden += 1
    assert overridden >= 15
    yield
    app.dependency_overrides.clear()


@pytest.mark.parametrize(
    "ttl", ["Infinity", "-Infinity", "NaN", "1e308", "1e999", "3651", "0", "-1"]
)
async def test_unbounded_numbers_are_refused_with_422_not_500(
    http: httpx.AsyncClient, as_admin: None, ttl: str
) -> None:
    body = '{"user": "+15555550199", "ttl_days": TTL, "name": "secret-name-xyz"}'.replace(
        "TTL", ttl
    )
    answer = await http.post(
        "/admin/tokens", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    reason = answer.json()
    assert reason["error"] == "invalid_request"
    assert reason["detail"][0]["loc"] == ["body", "ttl_days"]
    # Where and why, never the input itself.
    assert "+15555550199" not in answer.text
    assert "secret-name-xyz" not in answer.text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/admin/crisis-alerts?limit=100000000000000000000000000", None),
        ("GET", "/admin/audit?limit=1e999", None),
        ("GET", "/admin/outbound/failed?limit=-5", None),
        ("GET", "/admin/tokens?limit=NaN", None),
        ("POST", "/admin/dlq/scheduler.events/replay", '{"limit": 1e400}'),
        ("POST", "/admin/dlq/scheduler.events/discard", '{"limit": 99999999999}'),
        ("POST", "/admin/dlq/scheduler.events/replay", '{"message_ids": ["%s"]}' % ("m" * 257)),
        ("GET", "/admin/users/" + "1" * 65, None),
        ("GET", "/admin/audit?target=" + "t" * 257, None),
    ],
)
async def test_every_admin_number_and_string_is_bounded(
    http: httpx.AsyncClient, as_admin: None, method: str, path: str, body: str | None
) -> None:
    answer = await http.request(
        method, path, content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422, (path, answer.text[:300])
    assert answer.json()["error"] == "invalid_request"


# --- pages -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/admin/crisis-alerts?limit=LIMIT", None),
        ("GET", "/admin/outbound/failed?limit=LIMIT", None),
        ("GET", "/admin/dlq/scheduler.events?limit=LIMIT", None),
        ("GET", "/admin/tokens?limit=LIMIT", None),
        ("GET", "/admin/audit?limit=LIMIT", None),
        ("POST", "/admin/dlq/scheduler.events/replay", '{"limit": LIMIT}'),
        ("POST", "/admin/dlq/scheduler.events/discard", '{"all": true, "limit": LIMIT}'),
        ("POST", "/admin/dlq/scheduler.events/replay", '{"message_ids": IDS}'),
        ("POST", "/admin/dlq/scheduler.events/discard", '{"message_ids": IDS}'),
    ],
)
async def test_a_request_reads_or_acts_on_at_most_one_page_of_500_rows(
    http: httpx.AsyncClient, as_admin: None, method: str, path: str, body: str | None
) -> None:
    """501 rows, or 501 named events, is refused before anything is read (422, not 503: the
    database is away); 500 passes validation and reaches the database (503)."""
    for rows, expected in ((MAX_ROWS + 1, 422), (MAX_ROWS, 503)):
        ids = json.dumps([f"m{n}" for n in range(rows)])
        answer = await http.request(
            method,
            path.replace("LIMIT", str(rows)),
            content=body.replace("LIMIT", str(rows)).replace("IDS", ids) if body else None,
            headers={"Content-Type": "application/json"},
        )
        assert answer.status_code == expected, (path, rows, answer.text[:300])
    assert MAX_ROWS == 500


async def test_an_admin_text_is_at_most_one_sendable_sms(
    http: httpx.AsyncClient, as_admin: None
) -> None:
    for length, expected in ((MAX_SMS_CHARS + 1, 422), (MAX_SMS_CHARS, 503)):
        answer = await http.post("/admin/users/+15555550199/messages", json={"body": "x" * length})
        assert answer.status_code == expected, answer.text[:300]
        assert "x" * 20 not in answer.text
    assert SenderSettings().max_body_chars <= MAX_SMS_CHARS


def test_the_list_limit_setting_cannot_exceed_a_page() -> None:
    assert AdminSettings(max_list_limit=MAX_ROWS).max_list_limit == MAX_ROWS
    with pytest.raises(pydantic.ValidationError):
        AdminSettings(max_list_limit=MAX_ROWS + 1)
