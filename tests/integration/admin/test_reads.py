"""The reads over a seeded data set: metrics count exactly what was seeded, a user's detail puts
profile, conversation, billing, messages and their phone's operator roles together, support sees
masked phone numbers and no personal data, alerts, failed sends and migrations are listed, and
an alert's acknowledgement is a command the SMS worker applies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import pytest
from aio_pika.abc import AbstractQueue, AbstractRobustConnection

from services.admin.auth import Role
from services.billing_worker.store import ACCOUNTS
from services.queues import CONSUMER_QUEUES
from services.sms_sender.store import OUTBOUND_MESSAGES
from services.sms_worker.alerts import acknowledge_alert
from services.sms_worker.storage import ALERTS, CONVERSATIONS, MESSAGES, PROFILES, USERS
from services.sms_worker.unit_of_work import sms_work
from shared.events import Envelope
from shared.events.catalog import EVENTS, CrisisAlertAcknowledged
from shared.migrations.runner import MIGRATIONS_COLLECTION
from shared.outbox import OUTBOX_COLLECTION, Outbox
from shared.unit_of_work import Transactions
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

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
CAREGIVER = "+15555550001"


async def _seed(admin: AdminHarness) -> None:
    db = admin.sms_db
    profiles: list[tuple[str, str, str | None, timedelta]] = [
        ("u1", "onboarding", None, HOUR),
        ("u2", "active", "crisis", 2 * DAY),
        ("u3", "active", "high", 6 * DAY),
        ("u4", "active", "moderate", 8 * DAY),
        ("u5", "churned", None, 40 * DAY),
    ]
    for index, (user_id, phase, band, silent) in enumerate(profiles, start=1):
        await db[USERS].insert_one(
            {"_id": user_id, "phone": f"+1555555000{index}", "created_at": NOW}
        )
        profile: dict[str, Any] = {
            "_id": user_id,
            "user_id": user_id,
            "journey_phase": phase,
            "last_contact_at": NOW - silent,
            "first_name": f"Name{index}",
            "care_recipient_name": "Mom",
            "zip_code": "02139",
            "timezone": "America/New_York",
        }
        if band is not None:
            profile["burnout_band"] = band
        await db[PROFILES].insert_one(profile)
    today = NOW.replace(hour=0, minute=0)
    messages = [
        ("inbound", today + HOUR),
        ("inbound", today + 9 * HOUR),
        ("inbound", NOW - timedelta(minutes=1)),
        ("outbound", today + 2 * HOUR),
        ("outbound", NOW),
        ("inbound", today - timedelta(minutes=1)),
        ("outbound", today - timedelta(minutes=2)),
    ]
    for index, (direction, at) in enumerate(messages):
        await db[MESSAGES].insert_one(
            {
                "_id": f"m{index}",
                "user_id": "u1",
                "direction": direction,
                "body": f"secret words {index}",
                "status": "received" if direction == "inbound" else "sent",
                "created_at": at,
            }
        )
    alerts = [("a1", "high", DAY, "open"), ("a2", "medium", 3 * DAY, "acknowledged")]
    alerts.append(("a3", "high", 10 * DAY, "open"))
    for alert_id, severity, age, status in alerts:
        await db[ALERTS].insert_one(
            {
                "_id": alert_id,
                "user_id": "u2",
                "message_id": f"in:{alert_id}",
                "severity": severity,
                "domestic_violence": False,
                "source": "message",
                "needs_human_follow_up": False,
                "status": status,
                "created_at": NOW - age,
            }
        )
    sends = ["sent", "sent", "delivered", "failed", "permanently_failed"]
    for index, status in enumerate(sends):
        await admin.sender_db[OUTBOUND_MESSAGES].insert_one(
            {
                "_id": f"reply:{index}",
                "to_number": CAREGIVER,
                "body": "private reply text",
                "kind": "reply",
                "user_id": "u1",
                "status": status,
                "reason": "retries_exhausted" if status == "failed" else None,
                "attempts": 2,
                "updated_at": NOW - index * HOUR,
            }
        )
    await db[CONVERSATIONS].insert_one(
        {
            "_id": "u1",
            "user_id": "u1",
            "historical_summary": "cares for mom after a stroke",
            "total_interaction_count": 4,
            "conversation_started_at": NOW - 3 * DAY,
            "recent_messages": [{"direction": "inbound", "body": "secret"}],
        }
    )
    await admin.billing_db[ACCOUNTS].insert_one(
        {"_id": CAREGIVER, "user_id": "u1", "status": "active", "has_access": True, "version": 3}
    )


async def test_metrics_count_a_seeded_data_set(admin: AdminHarness) -> None:
    await _seed(admin)
    support = await admin.token(SUPPORT_PHONE, Role.SUPPORT)
    answer = await admin.http.get("/metrics", headers=auth(support))
    assert answer.status_code == 200, answer.text
    metrics = answer.json()
    assert metrics["users"] == {
        # The five seeded: the support token's owner is an operator, not an SMS-worker user.
        "total": 5,
        "by_journey_phase": {"onboarding": 1, "active": 3, "churned": 1},
        "by_burnout_band": {"crisis": 1, "high": 1, "moderate": 1, "none": 2},
        "active_7d": 3,
    }
    assert metrics["messages_today"] == {
        "since": NOW.replace(hour=0).isoformat().replace("+00:00", "Z"),
        "inbound": 3,
        "outbound": 2,
    }
    assert metrics["crisis_alerts_7d"] == {
        "total": 2,
        "by_severity": {"high": 1, "medium": 1},
        "open": 2,
    }
    assert metrics["outbound_by_status"] == {
        "sent": 2,
        "delivered": 1,
        "failed": 1,
        "permanently_failed": 1,
    }
    assert set(metrics["queues"]) == set(CONSUMER_QUEUES)
    assert all(q == {"ready": 0, "retrying": 0, "parked": 0} for q in metrics["queues"].values())
    assert metrics["parked_total"] == 0


async def test_user_detail_in_full_for_admins_and_masked_for_support(admin: AdminHarness) -> None:
    await _seed(admin)
    support = await admin.token(SUPPORT_PHONE, Role.SUPPORT)
    boss = await admin.token(ADMIN_PHONE, Role.ADMIN)

    full = (await admin.http.get(f"/users/{CAREGIVER}", headers=auth(boss))).json()
    assert full["id"] == "u1"
    assert full["phone"] == CAREGIVER
    assert (full["operator_id"], full["roles"]) == (None, [])
    assert full["profile"]["first_name"] == "Name1"
    assert full["profile"]["journey_phase"] == "onboarding"
    assert full["conversation"]["summary"] == "cares for mom after a stroke"
    assert full["conversation"]["total_interactions"] == 4
    assert full["billing"]["status"] == "active"
    assert full["billing"]["has_access"] is True
    assert [m["id"] for m in full["last_messages"]] == [f"m{i}" for i in (4, 2, 1, 3, 0, 5, 6)]
    assert full["last_messages"][0]["body"] == "secret words 4"

    masked = await admin.http.get("/users/u1", headers=auth(support))
    assert masked.status_code == 200
    view = masked.json()
    assert view["phone"] == "+*******0001"
    assert view["profile"]["first_name"] == "[hidden]"
    assert view["profile"]["care_recipient_name"] == "[hidden]"
    assert view["profile"]["zip_code"] == "[hidden]"
    assert view["profile"]["journey_phase"] == "onboarding"
    assert view["conversation"]["summary"] == "[hidden]"
    assert {m["body"] for m in view["last_messages"]} == {"[hidden]"}
    assert view["last_messages"][0]["chars"] == len("secret words 4")
    assert "secret" not in masked.text
    assert CAREGIVER not in masked.text

    # A caregiver on the team: their phone's operator record gives the roles shown.
    granted = await admin.http.post(f"/users/{CAREGIVER}/roles/support", headers=auth(boss))
    assert granted.status_code == 200, granted.text
    detail = (await admin.http.get("/users/u1", headers=auth(boss))).json()
    assert (detail["operator_id"], detail["roles"]) == (granted.json()["operator_id"], ["support"])

    failed = (await admin.http.get("/outbound/failed", headers=auth(support))).json()
    assert [(f["key"], f["status"], f["retryable"]) for f in failed] == [
        ("reply:3", "failed", True),
        ("reply:4", "permanently_failed", False),
    ]
    assert {f["to_number"] for f in failed} == {"+*******0001"}
    assert {f["body"] for f in failed} == {"[hidden]"}
    admin_view = (await admin.http.get("/outbound/failed", headers=auth(boss))).json()
    assert {f["to_number"] for f in admin_view} == {CAREGIVER}

    missing = await admin.http.get("/users/+15555559999", headers=auth(support))
    assert missing.status_code == 404
    nonsense = await admin.http.get("/users/+12", headers=auth(support))
    assert nonsense.status_code == 422


async def test_crisis_alerts_are_listed_and_acknowledged_once(
    admin: AdminHarness, broker: AbstractRobustConnection
) -> None:
    await _seed(admin)
    boss = await admin.token(ADMIN_PHONE, Role.ADMIN)
    open_alerts = await admin.http.get("/crisis-alerts?status=open", headers=auth(boss))
    assert [a["id"] for a in open_alerts.json()] == ["a1", "a3"]
    tap = await tap_events(
        broker, admin.broker_settings.exchange, CrisisAlertAcknowledged.EVENT_TYPE
    )

    done = await admin.http.post(
        "/crisis-alerts/a1/acknowledge", headers=auth(boss), json={"note": "called back"}
    )
    assert done.status_code == 202, done.text
    me = (await admin.http.get("/me", headers=auth(boss))).json()
    assert done.json()["acknowledged_by"] == me["operator_id"]
    again = await admin.http.post("/crisis-alerts/a1/acknowledge", headers=auth(boss))
    assert again.status_code == 409
    # The admin wrote nothing of the SMS worker's: the alert is open until the worker applies
    # the command the admin published.
    alert = await admin.sms_db[ALERTS].find_one({"_id": "a1"})
    assert alert is not None
    assert alert["status"] == "open"
    message = await _next_message(tap)
    decoded = EVENTS.decode(message)
    assert isinstance(decoded.payload, CrisisAlertAcknowledged)
    command = cast("Envelope[CrisisAlertAcknowledged]", decoded)
    assert command.payload.acknowledged_by == me["operator_id"]
    assert ADMIN_PHONE not in message.decode()
    sms_worker = Transactions(
        admin.sms_db.client,
        Outbox(admin.sms_db[OUTBOX_COLLECTION], admin.clock),
        sms_work(admin.sms_db),
    )
    await sms_worker.run(lambda uow: acknowledge_alert(command, uow))

    still_open = await admin.http.get("/crisis-alerts?status=open", headers=auth(boss))
    assert [a["id"] for a in still_open.json()] == ["a3"]
    alert = await admin.sms_db[ALERTS].find_one({"_id": "a1"})
    assert alert is not None
    assert (alert["status"], alert["acknowledged_by"]) == ("acknowledged", me["operator_id"])
    assert alert["acknowledgement_note"] == "called back"
    acknowledged = await admin.http.post("/crisis-alerts/a2/acknowledge", headers=auth(boss))
    assert acknowledged.status_code == 409
    missing = await admin.http.post("/crisis-alerts/zz/acknowledge", headers=auth(boss))
    assert missing.status_code == 404


async def _next_message(tap: AbstractQueue) -> bytes:
    """The body of the next event the tap receives."""
    bodies: list[bytes] = []

    async def received() -> bool:
        message = await tap.get(no_ack=True, fail=False)
        if message is not None:
            bodies.append(message.body)
        return bool(bodies)

    await eventually(received)
    return bodies[0]


async def test_migration_status_is_read_without_samples(admin: AdminHarness) -> None:
    await admin.migrations_db[MIGRATIONS_COLLECTION].insert_one(
        {
            "_id": "001_split_users",
            "description": "split legacy users",
            "status": "completed",
            "phase": "backfill",
            "checkpoint": {"last_id": "x", "processed": 10, "succeeded": 9, "failed": 1},
            "error_samples": [{"source_id": "x", "error": "bad phone"}],
            "started_at": NOW - HOUR,
            "finished_at": NOW,
        }
    )
    support = await admin.token(SUPPORT_PHONE, Role.SUPPORT)
    (record,) = (await admin.http.get("/migrations", headers=auth(support))).json()
    assert record["id"] == "001_split_users"
    assert (record["status"], record["phase"]) == ("completed", "backfill")
    assert record["checkpoint"] == {"processed": 10, "succeeded": 9, "failed": 1}
    assert "error_samples" not in record
