"""The writes over real HTTP: each one lands in `audit_log` (checked against the list of write
routes), admin messages and retries leave as `sms.outbound.requested` through the admin's outbox,
opted-out users are refused, roles live on the admin's operators, and the last admin keeps
their role."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from aio_pika.abc import AbstractQueue, AbstractRobustConnection

from services.admin.auth import Role
from services.admin.store import AUDIT_LOG, OPERATORS
from services.sms_sender.store import OUTBOUND_MESSAGES, SMS_RECIPIENTS
from services.sms_worker.storage import ALERTS, USERS
from shared.events.catalog import SmsOutboundRequested
from tests.integration.admin.conftest import (
    ADMIN_PHONE,
    BOOTSTRAP_TOKEN,
    NOW,
    SUPPORT_PHONE,
    AdminHarness,
    auth,
)
from tests.support.taps import tap_events
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

CAREGIVER = "+15555550042"
FAILED_KEY = "reply:01J0000000000000000000000"
BODY = "Hi, this is the GiveCare team checking in about your account."


async def _seed(admin: AdminHarness) -> None:
    await admin.sms_db[USERS].insert_one(
        {"_id": "caregiver", "phone": CAREGIVER, "created_at": NOW}
    )
    await admin.sender_db[OUTBOUND_MESSAGES].insert_one(
        {
            "_id": FAILED_KEY,
            "to_number": CAREGIVER,
            "body": "The reply that never arrived.",
            "kind": "reply",
            "user_id": "caregiver",
            "compliance": False,
            "status": "failed",
            "reason": "retries_exhausted",
            "attempts": 6,
            "event_id": "0190a000-0000-7000-8000-000000000001",
            "correlation_id": "corr-1",
            "causation_id": None,
            "requested_at": NOW - timedelta(hours=1),
            "updated_at": NOW,
        }
    )
    await admin.sms_db[ALERTS].insert_one(
        {
            "_id": "alert-1",
            "user_id": "caregiver",
            "message_id": "in:SM1",
            "severity": "high",
            "domestic_violence": False,
            "source": "message",
            "needs_human_follow_up": False,
            "status": "open",
            "created_at": NOW,
        }
    )


async def _requests(tap: AbstractQueue, count: int) -> list[dict[str, Any]]:
    """The next `count` sms.outbound.requested envelopes the tap saw."""
    seen: list[dict[str, Any]] = []

    async def enough() -> bool:
        message = await tap.get(no_ack=True, fail=False)
        if message is not None:
            seen.append(json.loads(message.body))
        return len(seen) >= count

    await eventually(enough)
    return seen


async def test_every_write_is_audited(
    admin: AdminHarness, broker: AbstractRobustConnection
) -> None:
    await _seed(admin)
    tap = await tap_events(broker, admin.broker_settings.exchange, SmsOutboundRequested.EVENT_TYPE)
    first = await admin.http.post(
        "/bootstrap", headers=auth(BOOTSTRAP_TOKEN), json={"phone": ADMIN_PHONE}
    )
    assert first.status_code == 201, first.text
    boss = auth(first.json()["token"])
    minted = await admin.http.post("/tokens", headers=boss, json={"user": ADMIN_PHONE})
    token_id = minted.json()["token_id"]
    queue = "sms_worker.inbound"
    writes = {
        ("post", "/bootstrap"): "admin.bootstrap",
        ("post", "/tokens"): "token.create",
        ("post", "/tokens/{token_id}/revoke"): "token.revoke",
        ("post", "/users/{user_ref}/roles/{role}"): "role.grant",
        ("delete", "/users/{user_ref}/roles/{role}"): "role.revoke",
        ("post", "/users/{user_ref}/messages"): "user.message",
        ("post", "/outbound/{key}/retry"): "outbound.retry",
        ("post", "/crisis-alerts/{alert_id}/acknowledge"): "alert.acknowledge",
        ("post", "/dlq/{queue}/replay"): "dlq.replay",
        ("post", "/dlq/{queue}/discard"): "dlq.discard",
        ("post", "/billing/reconcile"): "billing.reconcile",
        ("post", "/billing/checkout-links"): "billing.checkout_link",
    }
    calls = [
        ("POST", f"/tokens/{token_id}/revoke", None),
        ("POST", f"/users/{SUPPORT_PHONE}/roles/support", None),
        ("DELETE", f"/users/{SUPPORT_PHONE}/roles/support", None),
        ("POST", f"/users/{CAREGIVER}/messages", {"body": BODY, "request_id": "r-1"}),
        ("POST", f"/outbound/{FAILED_KEY}/retry", None),
        ("POST", "/crisis-alerts/alert-1/acknowledge", {"note": "spoke to them"}),
        ("POST", f"/dlq/{queue}/replay", {}),
        ("POST", f"/dlq/{queue}/discard", {"all": True}),
        ("POST", "/billing/reconcile", {"since_seconds": 3_600}),
        ("POST", "/billing/checkout-links", {"phone": CAREGIVER, "plan": "annual"}),
    ]
    for method, url, body in calls:
        answer = await admin.http.request(method, url, headers=boss, json=body)
        assert answer.status_code < 300, (method, url, answer.text)

    routes = {
        (method, path.removeprefix("/admin"))
        for path, methods in admin.app.openapi()["paths"].items()
        if path.startswith("/admin/")
        for method in methods
        if method != "get"
    }
    assert routes == set(writes)
    audit = [row async for row in admin.admin_db[AUDIT_LOG].find()]
    assert sorted(row["action"] for row in audit) == sorted(writes.values())
    by_action = {row["action"]: row for row in audit}
    assert by_action["user.message"]["target"] == {"type": "user", "id": "caregiver"}
    assert by_action["user.message"]["details"] == {
        "outbound_key": "admin:caregiver:r-1",
        "chars": len(BODY),
    }
    assert by_action["role.grant"]["details"] == {"role": "support"}
    assert by_action["role.grant"]["target"]["type"] == "operator"
    assert by_action["alert.acknowledge"]["target"] == {"type": "alert", "id": "alert-1"}
    assert by_action["outbound.retry"]["details"]["mode"] == "reopen"
    assert by_action["billing.checkout_link"]["target"]["type"] == "billing_request"
    assert by_action["billing.checkout_link"]["details"] == {
        "plan": "annual",
        "user_id": "caregiver",
    }
    for row in audit:
        assert row["at"] == NOW
        assert row["actor"]["kind"] in ("token", "bootstrap")
        assert BODY not in repr(row)
        assert CAREGIVER not in repr(row)

    message, retry = sorted(await _requests(tap, 2), key=lambda e: e["payload"]["kind"])
    assert message["idempotency_key"] == "admin:caregiver:r-1"
    assert message["payload"] == {
        "to_number": CAREGIVER,
        "body": BODY,
        "kind": "admin",
        "user_id": "caregiver",
        "compliance": False,
    }
    # The exhausted send's own request, again: the sender reopens that row.
    assert retry["id"] == "0190a000-0000-7000-8000-000000000001"
    assert retry["idempotency_key"] == FAILED_KEY


async def test_a_repeated_request_id_sends_one_message_and_opted_out_users_are_refused(
    admin: AdminHarness, broker: AbstractRobustConnection
) -> None:
    await _seed(admin)
    boss = auth(await admin.token(ADMIN_PHONE, Role.ADMIN))
    tap = await tap_events(broker, admin.broker_settings.exchange, SmsOutboundRequested.EVENT_TYPE)
    for _ in range(2):
        sent = await admin.http.post(
            "/users/caregiver/messages", headers=boss, json={"body": BODY, "request_id": "same"}
        )
        assert sent.status_code == 202
    (request,) = await _requests(tap, 1)
    assert request["idempotency_key"] == "admin:caregiver:same"

    too_long = await admin.http.post(
        "/users/caregiver/messages", headers=boss, json={"body": "x" * 1_601}
    )
    assert too_long.status_code == 422

    await admin.sender_db[SMS_RECIPIENTS].insert_one({"_id": CAREGIVER, "opted_out": True})
    refused = await admin.http.post("/users/caregiver/messages", headers=boss, json={"body": BODY})
    assert refused.status_code == 409
    assert "opted out" in refused.json()["detail"]
    retry = await admin.http.post(f"/outbound/{FAILED_KEY}/retry", headers=boss)
    assert retry.status_code == 409
    assert await tap.get(no_ack=True, fail=False) is None


async def test_roles_are_granted_and_revoked_but_the_last_admin_stays(admin: AdminHarness) -> None:
    boss = auth(await admin.token(ADMIN_PHONE, Role.ADMIN))
    granted = await admin.http.post(f"/users/{SUPPORT_PHONE}/roles/support", headers=boss)
    assert granted.json()["roles"] == ["support"]
    # The phone never texted: an operator in the admin's database, no SMS-worker user.
    operator = await admin.admin_db[OPERATORS].find_one({"phone": SUPPORT_PHONE})
    assert operator is not None
    assert (operator["_id"], operator["roles"]) == (granted.json()["operator_id"], ["support"])
    assert await admin.sms_db[USERS].count_documents({}) == 0

    unknown = await admin.http.post("/users/no-such-user/roles/support", headers=boss)
    assert unknown.status_code == 404
    bad_role = await admin.http.post(f"/users/{SUPPORT_PHONE}/roles/owner", headers=boss)
    assert bad_role.status_code == 422

    last = await admin.http.delete(f"/users/{ADMIN_PHONE}/roles/admin", headers=boss)
    assert last.status_code == 409
    assert "no admin" in last.json()["detail"]
    second = await admin.http.post(f"/users/{SUPPORT_PHONE}/roles/admin", headers=boss)
    assert sorted(second.json()["roles"]) == ["admin", "support"]
    stepped_down = await admin.http.delete(f"/users/{ADMIN_PHONE}/roles/admin", headers=boss)
    assert stepped_down.status_code == 200
    assert stepped_down.json()["roles"] == []
    # Their own token lost its power with the role.
    assert (await admin.http.get("/metrics", headers=boss)).status_code == 403
