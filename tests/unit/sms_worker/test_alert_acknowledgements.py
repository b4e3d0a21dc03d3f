"""The admin's `crisis.alert.acknowledged` against the in-memory unit of work: an open alert is
acknowledged once, with who, when and the note; a second acknowledgement, a redelivery or an
unknown alert change nothing."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest

from services.sms_worker.records import Alert
from shared.broker.consumer import AlreadyProcessed
from shared.events import Envelope, new_event
from shared.events.catalog import CrisisAlertAcknowledged
from tests.unit.sms_worker.fake_worker import AT, FakeSmsWorker

ALERT = Alert(
    id="in:SM1:message",
    user_id="u1",
    message_id="in:SM1",
    severity="high",
    domestic_violence=False,
    source="message",
    needs_human_follow_up=False,
    created_at=AT,
)
LATER = AT + timedelta(minutes=5)


def _acknowledged(
    by: str, at: datetime, note: str | None = None, alert_id: str = ALERT.id
) -> Envelope[CrisisAlertAcknowledged]:
    """Each call a new command (the admin's key is per alert; these stand for distinct ones)."""
    return new_event(
        CrisisAlertAcknowledged(
            alert_id=alert_id, acknowledged_by=by, note=note, acknowledged_at=at
        )
    )


async def _worker_with_open_alert() -> FakeSmsWorker:
    worker = FakeSmsWorker()
    await worker.uow.alerts.record(ALERT)
    return worker


async def test_an_open_alert_is_acknowledged_with_who_when_and_the_note() -> None:
    worker = await _worker_with_open_alert()
    await worker.deliver_acknowledgement(_acknowledged("op-1", LATER, "called back"))
    assert await worker.uow.alerts.get(ALERT.id) == dataclasses.replace(
        ALERT,
        status="acknowledged",
        acknowledged_at=LATER,
        acknowledged_by="op-1",
        acknowledgement_note="called back",
    )
    assert worker.uow.emitted == []


async def test_a_second_acknowledgement_keeps_the_first() -> None:
    worker = await _worker_with_open_alert()
    first = _acknowledged("op-1", LATER)
    await worker.deliver_acknowledgement(first)
    await worker.deliver_acknowledgement(_acknowledged("op-2", LATER + timedelta(hours=1), "me"))
    with pytest.raises(AlreadyProcessed):
        await worker.deliver_acknowledgement(first)
    alert = await worker.uow.alerts.get(ALERT.id)
    assert alert is not None
    assert (alert.acknowledged_by, alert.acknowledged_at, alert.acknowledgement_note) == (
        "op-1",
        LATER,
        None,
    )


async def test_an_unknown_alert_is_acknowledged_as_nothing() -> None:
    worker = await _worker_with_open_alert()
    await worker.deliver_acknowledgement(_acknowledged("op-1", LATER, alert_id="no-such"))
    assert await worker.uow.alerts.get("no-such") is None
    assert await worker.uow.alerts.get(ALERT.id) == ALERT
