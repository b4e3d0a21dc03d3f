"""`AdminClient`, remote mode's side of the admin API, against a stand-in transport: what it
sends (the token only in the header, every path segment quoted whole, only the options given)
and what it makes of the answers (the typed models, support's masked view, the API's refusal
with its own status and code); and which API addresses it accepts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from services.admin.schemas import MaskedUserDetail, RetryRequested, UserDetail
from services.cli.remote import AdminClient, ApiRefusal, api_base_url

NOW = datetime(2031, 3, 1, 12, tzinfo=UTC)
TOKEN = "gca_0123456789ab_secret"
USER: dict[str, Any] = {
    "id": "u1",
    "operator_id": None,
    "roles": [],
    "created_at": NOW.isoformat(),
    "billing": None,
    "profile": None,
    "conversation": None,
    "last_messages": [],
}


def _client(handler: httpx.MockTransport) -> AdminClient:
    return AdminClient("https://admin.givecare.internal", TOKEN, transport=handler)


async def test_requests_carry_the_token_in_the_header_and_quote_every_segment() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            202, json={"key": "reply:a/b", "mode": "resend", "outbound_key": "reply:a/b:r:1"}
        )

    async with _client(httpx.MockTransport(answer)) as client:
        retried = await client.retry_outbound("reply:a/b")
    assert retried == RetryRequested.model_validate(
        {"key": "reply:a/b", "mode": "resend", "outbound_key": "reply:a/b:r:1"}
    )
    (request,) = seen
    assert request.url.raw_path == b"/admin/outbound/reply%3Aa%2Fb/retry"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(request.url)


async def test_answers_become_the_models_full_or_masked_by_their_view() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/u1"):
            return httpx.Response(
                200, json={**USER, "view": "full", "phone": "+15551234567", "email": None}
            )
        return httpx.Response(
            200, json={**USER, "view": "masked", "phone": "+*******4567", "email": None}
        )

    async with _client(httpx.MockTransport(answer)) as client:
        assert isinstance(await client.user("u1"), UserDetail)
        assert isinstance(await client.user("+15551234567"), MaskedUserDetail)


async def test_a_refusal_keeps_the_apis_status_code_and_detail() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body == {"limit": 100, "all": False}  # options not given are not sent
        return httpx.Response(422, json={"error": "invalid_request", "detail": "name ids"})

    async with _client(httpx.MockTransport(answer)) as client:
        with pytest.raises(ApiRefusal) as refused:
            await client.discard_parked("q", message_ids=None, everything=False, limit=100)
    assert (refused.value.status, refused.value.error, refused.value.detail) == (
        422,
        "invalid_request",
        "name ids",
    )


def test_the_api_is_reached_over_https_or_on_this_machine_only() -> None:
    assert (
        api_base_url("https://admin.givecare.internal") == "https://admin.givecare.internal/admin"
    )
    assert api_base_url("http://127.0.0.1:8000/admin/") == "http://127.0.0.1:8000/admin"
    assert api_base_url("http://localhost:8000") == "http://localhost:8000/admin"
    for refused in ("http://admin.givecare.internal", "ftp://127.0.0.1", ""):
        with pytest.raises(ValueError, match=r"https|empty"):
            api_base_url(refused)
