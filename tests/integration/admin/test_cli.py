"""The `givecare` console script as a real process against the real servers: the first admin,
tokens, roles, metrics, parked events and retries go through the same code as the API, leave
the same audit rows, and answer JSON on stdout with meaningful exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from aio_pika.abc import AbstractRobustConnection

from services.admin.store import AUDIT_LOG
from services.queues import CONSUMER_QUEUES
from services.scheduler.queues import EVENTS as SCHEDULER_EVENTS
from services.sms_sender.store import OUTBOUND_MESSAGES
from shared.broker import parking_queue_name
from shared.broker.publisher import event_message
from shared.events import new_event
from shared.events.catalog import CrisisDetected, SmsOutboundRequested
from shared.worker import declare_topology
from tests.integration.admin.conftest import (
    ADMIN_PHONE,
    NOW,
    SUPPORT_PHONE,
    AdminHarness,
    auth,
)
from tests.support.taps import tap_events
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

QUEUE = SCHEDULER_EVENTS.name


async def test_first_admin_tokens_roles_and_metrics_from_the_command_line(
    admin: AdminHarness,
) -> None:
    first = await admin.cli(
        "admin", "create-first", "--phone", ADMIN_PHONE, "--token-name", "laptop"
    )
    assert first.code == 0, first.stderr
    token = first.json()["token"]
    me = await admin.http.get("/me", headers=auth(token))
    assert me.json()["roles"] == ["admin"]
    assert token not in first.stderr

    refused = await admin.cli("admin", "create-first", "--phone", SUPPORT_PHONE)
    assert refused.code == 4
    assert json.loads(refused.stderr.splitlines()[-1])["error"] == "bootstrap_closed"

    granted = await admin.cli("roles", "grant", SUPPORT_PHONE, "support")
    assert granted.code == 0, granted.stderr
    assert granted.json()["roles"] == ["support"]
    minted = await admin.cli(
        "admin", "token", "create", "--user", SUPPORT_PHONE, "--role", "support"
    )
    assert minted.code == 0, minted.stderr
    support = minted.json()["token"]
    assert (await admin.http.get("/me", headers=auth(support))).json()["roles"] == ["support"]
    revoked = await admin.cli("admin", "token", "revoke", minted.json()["token_id"])
    assert revoked.code == 0, revoked.stderr
    assert (await admin.http.get("/me", headers=auth(support))).status_code == 401
    taken = await admin.cli("roles", "revoke", SUPPORT_PHONE, "support")
    assert taken.json()["roles"] == []
    no_role = await admin.cli("roles", "grant", SUPPORT_PHONE, "owner")
    assert no_role.code == 2

    metrics = await admin.cli("metrics")
    assert metrics.code == 0, metrics.stderr
    # Operators are the admin's: the SMS worker has no users for them.
    assert metrics.json()["users"]["total"] == 0
    assert metrics.json()["parked_total"] == 0

    actions = [
        (row["action"], row["actor"]["kind"])
        async for row in admin.admin_db[AUDIT_LOG].find().sort("_id", 1)
    ]
    assert actions == [
        ("admin.bootstrap", "bootstrap"),
        ("role.grant", "operator"),
        ("token.create", "operator"),
        ("token.revoke", "operator"),
        ("role.revoke", "operator"),
    ]


async def test_parked_events_and_failed_sends_from_the_command_line(
    admin: AdminHarness, broker: AbstractRobustConnection
) -> None:
    settings = admin.broker_settings
    await declare_topology(broker, settings, CONSUMER_QUEUES)
    channel = await broker.channel(publisher_confirms=True)
    parked_ids = []
    for index in range(2):
        event = new_event(
            CrisisDetected(
                user_id=f"u{index}", phone="+15555550300", severity="high", detected_at=NOW
            )
        )
        parked_ids.append(str(event.id))
        message = event_message(
            event.to_json(),
            event_type=event.type,
            message_id=str(event.id),
            correlation_id=event.correlation_id,
            headers={"x-error-type": "RuntimeError", "x-attempt": 4},
        )
        # As the consumer runtime parks: straight into the parking queue.
        await channel.default_exchange.publish(
            message, routing_key=parking_queue_name(settings.queue(QUEUE))
        )
    await channel.close()

    listed = await admin.cli("dlq", "list", QUEUE)
    assert listed.code == 0, listed.stderr
    assert sorted(p["message_id"] for p in listed.json()) == sorted(parked_ids)
    discarded = await admin.cli("dlq", "discard", QUEUE, "--id", parked_ids[0])
    assert discarded.json() == {"queue": QUEUE, "discarded": 1}
    vague = await admin.cli("dlq", "discard", QUEUE)
    assert vague.code == 2
    replayed = await admin.cli("dlq", "replay", QUEUE)
    assert replayed.json() == {"queue": QUEUE, "replayed": 1}
    assert (await admin.cli("dlq", "list", QUEUE)).json() == []
    work = await broker.channel()
    queue = await work.declare_queue(settings.queue(QUEUE), passive=True)
    assert queue.declaration_result.message_count == 1
    await work.close()

    key = "reply:cli-retry"
    await admin.sender_db[OUTBOUND_MESSAGES].insert_one(
        {
            "_id": key,
            "to_number": "+15555550300",
            "body": "A reply that ran out of retries.",
            "kind": "reply",
            "user_id": "u0",
            "status": "failed",
            "reason": "retries_exhausted",
            "event_id": "0190a000-0000-7000-8000-0000000000aa",
            "correlation_id": "corr-cli",
            "requested_at": datetime.now(UTC),
        }
    )
    tap = await tap_events(broker, settings.exchange, SmsOutboundRequested.EVENT_TYPE)
    failed = await admin.cli("outbound", "failed")
    assert [(f["key"], f["retryable"]) for f in failed.json()] == [(key, True)]
    retried = await admin.cli("outbound", "retry", key)
    assert retried.code == 0, retried.stderr
    assert retried.json()["mode"] == "reopen"

    async def republished() -> bool:
        message = await tap.get(no_ack=True, fail=False)
        return message is not None and json.loads(message.body)["idempotency_key"] == key

    await eventually(republished)
    missing = await admin.cli("outbound", "retry", "reply:no-such-send")
    assert missing.code == 3
    assert json.loads(missing.stderr.splitlines()[-1])["error"] == "not_found"
    audit = [row async for row in admin.admin_db[AUDIT_LOG].find().sort("_id", 1)]
    assert [(row["action"], row["actor"]["kind"]) for row in audit] == [
        ("dlq.discard", "operator"),
        ("dlq.replay", "operator"),
        ("outbound.retry", "operator"),
    ]
    assert all(row["actor"]["id"].startswith("cli:") for row in audit)
