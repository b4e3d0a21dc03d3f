"""`sms.send.updated`: the one event the sender publishes for each step of a send, so the SMS
worker's conversation log follows it. Its id derives from (key, reopened, status), so a step
recorded twice is published once."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from domain.send_status import SendStatus
from services.sms_sender.records import SendRecord
from shared.events import Envelope, new_event
from shared.events.catalog import SmsSendUpdated


def send_updated(
    send: SendRecord, status: str, at: datetime, *, error_code: int | None = None
) -> Envelope[SmsSendUpdated]:
    """The step `status` (one of `domain.send_status`'s, checked by the model) of `send`, as
    the send is after the step."""
    return new_event(
        SmsSendUpdated(
            key=send.key,
            reopened=send.reopened,
            user_id=send.user_id,
            status=cast(SendStatus, status),
            provider_sid=send.provider_sid,
            error_code=error_code if error_code is not None else send.error_code,
            updated_at=at,
            body=send.body,
            kind=send.kind,
        ),
        idempotency_key=f"send-updated:{send.key}:{send.reopened}:{status}",
        correlation_id=send.correlation_id,
        occurred_at=at,
    )
