"""Retrying failed sends through the admin API, with the real sender (and a fake Twilio) doing
the sending: a send that ran out of retries is reopened under its own key and goes out once; one
the carrier did not deliver goes out again under a retry key; neither is retried twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from services.admin.auth import Role
from services.devtools.fake_twilio import Reply
from services.sms_sender.store import RETRIES_EXHAUSTED
from shared.events import new_event
from shared.events.catalog import SmsStatusUpdated
from tests.integration.admin.conftest import ADMIN_PHONE, AdminHarness, auth
from tests.integration.sms_sender.conftest import (
    SenderHarness,
    request_event,
    sender_settings,
    unique_key,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def test_failed_sends_are_retried_through_the_normal_path_once(
    admin: AdminHarness, harness_factory: Callable[[], Any]
) -> None:
    sending: SenderHarness = await harness_factory()
    sending.twilio.script(Reply.server_error(), Reply.server_error())
    sender = sending.sender(settings=sender_settings(max_attempts=2))
    await sending.consume(sender)
    key = unique_key()
    await sending.publish(request_event(key))

    async def first_attempt_failed() -> bool:
        row = await sending.db["outbound_messages"].find_one({"_id": key})
        return row is not None and row.get("attempts") == 1 and row["status"] == "pending"

    await eventually(first_attempt_failed)
    row = await sending.row(key)
    sending.clock.advance(row["next_attempt_at"] - sending.clock.now())
    assert await sender.poller.run_once() == 1
    row = await sending.row(key)
    assert (row["status"], row["reason"]) == ("failed", RETRIES_EXHAUSTED)

    boss = auth(await admin.token(ADMIN_PHONE, Role.ADMIN))
    failed = (await admin.http.get("/outbound/failed", headers=boss)).json()
    assert [(f["key"], f["retryable"]) for f in failed] == [(key, True)]
    reopened = await admin.http.post(f"/outbound/{key}/retry", headers=boss)
    assert reopened.status_code == 202, reopened.text
    assert reopened.json()["mode"] == "reopen"
    row = await sending.row_reaches(key, "sent")
    assert row["reopened"] == 1
    assert [call.status for call in sending.twilio.creates] == [500, 500, 201]
    assert (await admin.http.post(f"/outbound/{key}/retry", headers=boss)).status_code == 409

    # The carrier could not deliver it: a retry asks the provider again, under a key of its own.
    await sending.publish(
        new_event(
            SmsStatusUpdated(
                message_sid=row["provider_sid"],
                status="undelivered",
                error_code=30003,
                outbound_key=key,
                received_at=datetime.now(UTC),
            ),
            idempotency_key=f"twilio-status:{row['provider_sid']}:undelivered",
        )
    )
    await sending.row_reaches(key, "undelivered")
    resent = await admin.http.post(f"/outbound/{key}/retry", headers=boss)
    assert resent.status_code == 202, resent.text
    assert resent.json()["mode"] == "resend"
    retry_key = f"{key}:admin-retry:1"
    assert resent.json()["outbound_key"] == retry_key
    retried = await sending.row_reaches(retry_key, "sent")
    assert (retried["body"], retried["to_number"]) == (row["body"], row["to_number"])
    assert len(sending.twilio.creates) == 4
    again = await admin.http.post(f"/outbound/{key}/retry", headers=boss)
    assert again.status_code == 409
    assert retry_key in again.json()["detail"]
