"""The sends consumer: the SMS worker keeps the conversation log's row of every outbound SMS.

Queue `sms_worker.sends` carries each request (`sms.outbound.requested`) and every step the
sender reports (`sms.send.updated`). They arrive in any order — a step may come before its
request — so the request fills in what was asked and never moves the status, and a step moves
the row on only when it supersedes what the row holds (`records.supersedes`). The same request
or step twice changes nothing, so the sender's own writes to these rows (until it has its own
database) and these coexist.
"""

from __future__ import annotations

import structlog

from services.sms_worker.handlers import aware
from services.sms_worker.records import OutboundRequest, SendUpdate
from services.sms_worker.unit_of_work import SmsWork
from shared.events import Envelope
from shared.events.catalog import SmsOutboundRequested, SmsSendUpdated

log = structlog.get_logger(__name__)


async def record_request(event: Envelope[SmsOutboundRequested], uow: SmsWork) -> None:
    """`sms.outbound.requested`: the row, `pending` unless a step got there first."""
    request = event.payload
    await uow.messages.record_request(
        OutboundRequest(
            key=event.idempotency_key,
            user_id=request.user_id,
            body=request.body,
            kind=request.kind,
            requested_at=event.occurred_at,
        )
    )
    log.info("outbound sms logged", kind=request.kind, user_id=request.user_id)


async def apply_update(event: Envelope[SmsSendUpdated], uow: SmsWork) -> None:
    """`sms.send.updated`: the row follows the send, forward only."""
    step = event.payload
    applied = await uow.messages.apply_update(
        SendUpdate(
            key=step.key,
            user_id=step.user_id,
            status=step.status,
            at=aware(step.updated_at),
            reopened=step.reopened,
            provider_sid=step.provider_sid,
            error_code=step.error_code,
        )
    )
    log.info("send step", status=step.status, applied=applied, user_id=step.user_id)
