"""`sms.send.updated`: the one event the sender publishes for each step of a send, so the SMS
worker's conversation log follows it. Its id derives from (key, reopened, status), so a step
recorded twice is published once."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from domain.send_status import SendStatus
from shared.events import Envelope, new_event
from shared.events.catalog import SmsSendUpdated
from shared.mongo import Document


def send_updated(
    row: Document, status: str, at: datetime, *, error_code: int | None = None
) -> Envelope[Any]:
    """The step `status` (one of `domain.send_status`'s, checked by the model) of the send
    `row`, as the row is after the step."""
    reopened = int(row.get("reopened", 0))
    return new_event(
        SmsSendUpdated(
            key=row["_id"],
            reopened=reopened,
            user_id=row.get("user_id"),
            status=cast(SendStatus, status),
            provider_sid=row.get("provider_sid"),
            error_code=error_code if error_code is not None else row.get("error_code"),
            updated_at=at,
        ),
        idempotency_key=f"send-updated:{row['_id']}:{reopened}:{status}",
        correlation_id=row.get("correlation_id"),
        occurred_at=at,
    )
