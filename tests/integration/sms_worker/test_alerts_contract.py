"""`alerts`: the fake and the server agree — an alert is kept as first recorded, and moves
open → acknowledged once."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from services.sms_worker.records import Acknowledgement, Alert
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
LATER = ALERT.created_at + timedelta(minutes=5)


async def test_an_alert_is_kept_as_first_recorded(sms_work_in: SmsWorkIn) -> None:
    assert await sms_work_in(lambda uow: uow.alerts.get(ALERT.id)) is None
    await sms_work_in(lambda uow: uow.alerts.record(ALERT))
    await sms_work_in(lambda uow: uow.alerts.record(dataclasses.replace(ALERT, severity="medium")))
    assert await sms_work_in(lambda uow: uow.alerts.get(ALERT.id)) == ALERT


async def test_an_open_alert_is_acknowledged_once(sms_work_in: SmsWorkIn) -> None:
    await sms_work_in(lambda uow: uow.alerts.record(ALERT))
    first = Acknowledgement(alert_id=ALERT.id, by="op-1", at=LATER, note="called back")
    assert await sms_work_in(lambda uow: uow.alerts.acknowledge(first)) is True
    second = Acknowledgement(alert_id=ALERT.id, by="op-2", at=LATER + timedelta(hours=1))
    assert await sms_work_in(lambda uow: uow.alerts.acknowledge(second)) is False
    unknown = dataclasses.replace(first, alert_id="no-such")
    assert await sms_work_in(lambda uow: uow.alerts.acknowledge(unknown)) is False
    assert await sms_work_in(lambda uow: uow.alerts.get(ALERT.id)) == dataclasses.replace(
        ALERT,
        status="acknowledged",
        acknowledged_at=LATER,
        acknowledged_by="op-1",
        acknowledgement_note="called back",
    )
