"""`alerts`: the fake and the server agree — an alert is kept as first recorded."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from services.sms_worker.records import Alert
from tests.integration.sms_worker.conftest import SmsWorkIn

pytestmark = pytest.mark.integration

ALERT = Alert(
    id="in:SM1:message",
    user_id="u1",
    message_id="in:SM1",
    severity="high",
    domestic_violence=True,
    source="message",
    needs_human_follow_up=True,
    created_at=datetime(2026, 3, 2, 15, 0, tzinfo=UTC),
)


async def test_an_alert_is_kept_as_first_recorded(sms_work_in: SmsWorkIn) -> None:
    assert await sms_work_in(lambda uow: uow.alerts.get(ALERT.id)) is None
    await sms_work_in(lambda uow: uow.alerts.record(ALERT))
    await sms_work_in(lambda uow: uow.alerts.record(dataclasses.replace(ALERT, severity="medium")))
    assert await sms_work_in(lambda uow: uow.alerts.get(ALERT.id)) == ALERT
