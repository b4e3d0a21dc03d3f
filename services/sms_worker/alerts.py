"""Crisis alerts the admin's operators take on: `crisis.alert.acknowledged` is the admin's
command, and the SMS worker, which owns `alerts`, applies it.

An alert moves open → acknowledged once. A repeated or late acknowledgement (the same request
again, or a second operator's) changes nothing: the first one stays on the alert.
"""

from __future__ import annotations

import structlog

from services.sms_worker.handlers import aware
from services.sms_worker.records import Acknowledgement
from services.sms_worker.unit_of_work import SmsWork
from shared.events import Envelope
from shared.events.catalog import CrisisAlertAcknowledged

log = structlog.get_logger(__name__)


async def acknowledge_alert(event: Envelope[CrisisAlertAcknowledged], uow: SmsWork) -> None:
    """Mark the alert acknowledged if it is still open."""
    command = event.payload
    applied = await uow.alerts.acknowledge(
        Acknowledgement(
            alert_id=command.alert_id,
            by=command.acknowledged_by,
            at=aware(command.acknowledged_at),
            note=command.note,
        )
    )
    log.info("crisis alert acknowledgement", alert_id=command.alert_id, applied=applied)
