"""`givecare` in remote mode against a real ingress process on 127.0.0.1: the operator's
machine has no database or broker (the CLI's own environment points at addresses nobody
answers at), only `GIVECARE_API_URL` and a token. The first admin, roles, tokens, every read
and every write go through the admin API, answer the same typed JSON as direct mode, leave the
token's operator in the audit log, mask what support may not see, and fail with the documented
exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from aio_pika.abc import AbstractRobustConnection

from services.admin.records import Role
from services.admin.store import AUDIT_LOG
from services.queues import CONSUMER_QUEUES
from services.scheduler.queues import EVENTS as SCHEDULER_EVENTS
from services.sms_sender.store import OUTBOUND_MESSAGES
from services.sms_worker.storage import ALERTS, USERS
from shared.broker import parking_queue_name
from shared.broker.publisher import event_message
from shared.events import new_event
from shared.events.catalog import CrisisDetected, SmsOutboundRequested
from shared.local_servers import free_port
from shared.worker import declare_topology
from tests.integration.admin.conftest import ADMIN_PHONE, BOOTSTRAP_TOKEN, SUPPORT_PHONE, Remote
from tests.support.taps import tap_events
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

CAREGIVER = "+15555550042"
QUEUE = SCHEDULER_EVENTS.name


async def test_operators_bootstrap_mint_read_and_are_audited_through_the_api(
    remote: Remote,
) -> None:
    first = await remote.cli("admin", "create-first", "--phone", ADMIN_PHONE, token=BOOTSTRAP_TOKEN)
    assert first.code == 0, first.stderr
    boss = first.json()["token"]
    again = await remote.cli(
        "admin", "create-first", "--phone", SUPPORT_PHONE, token=BOOTSTRAP_TOKEN
    )
    assert (again.code, again.error()["error"]) == (4, "bootstrap_closed")

    me = await remote.cli("whoami", token=boss)
    assert me.code == 0, me.stderr
    assert (me.json()["kind"], me.json()["roles"]) == ("token", ["admin"])
    operator_id = me.json()["operator_id"]

    granted = await remote.cli("roles", "grant", SUPPORT_PHONE, "support", token=boss)
    assert granted.json()["roles"] == ["support"]
    minted = await remote.cli(
        "admin", "token", "create", "--user", SUPPORT_PHONE, "--role", "support", token=boss
    )
    assert minted.code == 0, minted.stderr
    helper = minted.json()["token"]
    listed = await remote.cli("admin", "token", "list", token=boss)
    assert {t["id"] for t in listed.json()} == {first.json()["token_id"], minted.json()["token_id"]}

    metrics = await remote.cli("metrics", token=helper)
    assert metrics.code == 0, metrics.stderr
    assert set(metrics.json()["queues"]) == set(CONSUMER_QUEUES)
    assert metrics.json()["users"]["total"] == 0

    await remote.sms_db[USERS].insert_one(
        {"_id": "u42", "phone": CAREGIVER, "created_at": datetime.now(UTC)}
    )
    full = await remote.cli("users", "show", CAREGIVER, token=boss)
    assert (full.json()["view"], full.json()["phone"]) == ("full", CAREGIVER)
    masked = await remote.cli("users", "show", "u42", token=helper)
    assert (masked.json()["view"], masked.json()["phone"]) == ("masked", "+*******0042")
    assert CAREGIVER not in masked.stdout

    # Refusals keep the API's reason and map to the documented exit codes.
    forbidden = await remote.cli("roles", "grant", CAREGIVER, "admin", token=helper)
    assert (forbidden.code, forbidden.error()["error"]) == (6, "forbidden")
    missing = await remote.cli("users", "show", "+15555559999", token=helper)
    assert (missing.code, missing.error()["error"]) == (3, "not_found")
    invalid = await remote.cli("users", "show", "+12", token=helper)
    assert (invalid.code, invalid.error()["error"]) == (2, "invalid_request")
    unknown = await remote.cli("metrics", token=helper[:-4] + "AAAA")
    assert (unknown.code, unknown.error()["error"]) == (6, "not_authenticated")
    tokenless = await remote.cli("metrics", token=None)
    assert (tokenless.code, tokenless.error()["error"]) == (2, "no_token")
    for result in (first, minted, forbidden, unknown):
        assert boss not in result.stderr
        assert helper not in result.stderr

    # Migrations run where the databases are; remotely only their progress is read.
    progress = await remote.cli("migrations", "status", token=helper)
    assert (progress.code, progress.json()) == (0, [])
    refused = await remote.cli("migrations", "run", "001_split_users", token=boss)
    assert (refused.code, refused.error()["error"]) == (2, "direct_only")

    revoked = await remote.cli("admin", "token", "revoke", minted.json()["token_id"], token=boss)
    assert revoked.code == 0, revoked.stderr
    assert (await remote.cli("metrics", token=helper)).code == 6

    audit = await remote.cli("audit", token=boss)
    assert [(row["action"], row["actor"]["kind"]) for row in reversed(audit.json())] == [
        ("admin.bootstrap", "bootstrap"),
        ("role.grant", "token"),
        ("token.create", "token"),
        ("token.revoke", "token"),
    ]
    assert {row["actor"]["operator_id"] for row in audit.json()[:3]} == {operator_id}
    assert await remote.admin_db[AUDIT_LOG].count_documents({"actor.kind": "operator"}) == 0


async def test_parked_events_sends_alerts_and_messages_through_the_api(
    remote: Remote, broker: AbstractRobustConnection
) -> None:
    first = await remote.cli("admin", "create-first", "--phone", ADMIN_PHONE, token=BOOTSTRAP_TOKEN)
    boss = first.json()["token"]
    settings = remote.broker_settings
    await declare_topology(broker, settings, CONSUMER_QUEUES)
    channel = await broker.channel(publisher_confirms=True)
    parked_ids = []
    for index in range(2):
        event = new_event(
            CrisisDetected(
                user_id=f"u{index}",
                phone="+15555550300",
                severity="high",
                detected_at=datetime.now(UTC),
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
        await channel.default_exchange.publish(
            message, routing_key=parking_queue_name(settings.queue(QUEUE))
        )
    await channel.close()

    listed = await remote.cli("dlq", "list", QUEUE, token=boss)
    assert listed.code == 0, listed.stderr
    assert sorted(p["message_id"] for p in listed.json()) == sorted(parked_ids)
    discarded = await remote.cli("dlq", "discard", QUEUE, "--id", parked_ids[0], token=boss)
    assert discarded.json() == {"queue": QUEUE, "discarded": 1}
    vague = await remote.cli("dlq", "discard", QUEUE, token=boss)
    assert vague.code == 2
    replayed = await remote.cli("dlq", "replay", QUEUE, token=boss)
    assert replayed.json() == {"queue": QUEUE, "replayed": 1}
    unknown_queue = await remote.cli("dlq", "list", "no.such.queue", token=boss)
    assert unknown_queue.code == 3

    key = "reply:remote-retry"
    await remote.sender_db[OUTBOUND_MESSAGES].insert_one(
        {
            "_id": key,
            "to_number": CAREGIVER,
            "body": "A reply that ran out of retries.",
            "kind": "reply",
            "user_id": "u42",
            "status": "failed",
            "reason": "retries_exhausted",
            "event_id": "0190a000-0000-7000-8000-0000000000bb",
            "correlation_id": "corr-remote",
            "requested_at": datetime.now(UTC),
        }
    )
    tap = await tap_events(broker, settings.exchange, SmsOutboundRequested.EVENT_TYPE)
    failed = await remote.cli("outbound", "failed", token=boss)
    assert [(f["key"], f["view"], f["retryable"]) for f in failed.json()] == [(key, "full", True)]
    retried = await remote.cli("outbound", "retry", key, token=boss)
    assert retried.code == 0, retried.stderr
    assert retried.json()["mode"] == "reopen"

    async def republished() -> bool:
        message = await tap.get(no_ack=True, fail=False)
        return message is not None and json.loads(message.body)["idempotency_key"] == key

    await eventually(republished)

    await remote.sms_db[USERS].insert_one(
        {"_id": "u42", "phone": CAREGIVER, "created_at": datetime.now(UTC)}
    )
    texted = await remote.cli(
        "users",
        "message",
        CAREGIVER,
        "--body",
        "We called you back.",
        "--request-id",
        "r1",
        token=boss,
    )
    assert texted.code == 0, texted.stderr
    assert texted.json()["outbound_key"] == "admin:u42:r1"
    assert "We called you back." not in texted.stderr

    await remote.sms_db[ALERTS].insert_one(
        {
            "_id": "alert-1",
            "user_id": "u42",
            "message_id": "in:alert-1",
            "severity": "high",
            "domestic_violence": False,
            "source": "message",
            "needs_human_follow_up": False,
            "status": "open",
            "created_at": datetime.now(UTC),
        }
    )
    alerts = await remote.cli("alerts", "list", "--status", "open", token=boss)
    assert [a["id"] for a in alerts.json()] == ["alert-1"]
    asked = await remote.cli("alerts", "acknowledge", "alert-1", "--note", "called", token=boss)
    assert asked.code == 0, asked.stderr
    twice = await remote.cli("alerts", "acknowledge", "alert-1", token=boss)
    assert (twice.code, twice.error()["error"]) == (4, "conflict")

    audit = [row async for row in remote.admin_db[AUDIT_LOG].find().sort("_id", 1)]
    assert [(row["action"], row["actor"]["kind"]) for row in audit] == [
        ("admin.bootstrap", "bootstrap"),
        ("dlq.discard", "token"),
        ("dlq.replay", "token"),
        ("outbound.retry", "token"),
        ("user.message", "token"),
        ("alert.acknowledge", "token"),
    ]


async def test_the_api_url_must_be_https_unless_it_is_this_machine(remote: Remote) -> None:
    plain = await remote.cli("--api-url", "http://admin.givecare.example", "metrics", token="x")
    assert (plain.code, plain.error()["error"]) == (2, "invalid_api_url")
    nobody = await remote.cli(
        "--api-url", f"http://127.0.0.1:{free_port()}", "metrics", token="gca_x"
    )
    assert (nobody.code, nobody.error()["error"]) == (5, "api_unavailable")
    assert (await remote.cli("whoami", token=None)).code == 2
    # An explicit option wins over the environment; `/admin` may be written or not.
    bootstrap = await remote.cli(
        "--api-url",
        f"{remote.url}/admin/",
        "admin",
        "create-first",
        "--phone",
        ADMIN_PHONE,
        token=BOOTSTRAP_TOKEN,
    )
    assert bootstrap.code == 0, bootstrap.stderr
    assert Role.ADMIN.value in bootstrap.json()["roles"]
