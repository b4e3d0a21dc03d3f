"""The SMS worker's side of every outbound SMS: its row in the conversation log.

The worker logs what it asks for itself in the same transaction that emits the request
(`handlers.request_sms`): the row is there, `pending`, before the sender can report on it.
Every step the sender reports (`sms.send.updated`, queue `sms_worker.sends`) moves the row on
only when it supersedes what the row holds (`records.supersedes`); a send another service asked
for (the admin, billing) gets its row from its first step, which carries what was asked. The
same step twice changes nothing, so a step needs no inbox row and no transaction: it is one
conditional write on the row (usually one command), and a redelivery or replay is harmless.
"""

from __future__ import annotations

import structlog

from services.sms_worker.handlers import aware
from services.sms_worker.records import SendUpdate
from services.sms_worker.unit_of_work import Messages
from shared.events import Envelope
from shared.events.catalog import SmsSendUpdated

log = structlog.get_logger(__name__)


class SendSteps:
    """`sms.send.updated`, on the conversation log outside any transaction."""

    def __init__(self, messages: Messages) -> None:
        self._messages = messages

    async def handle(self, event: Envelope[SmsSendUpdated]) -> None:
        """The row follows the send, forward only."""
        step = event.payload
        applied = await self._messages.apply_update(
            SendUpdate(
                key=step.key,
                user_id=step.user_id,
                status=step.status,
                at=aware(step.updated_at),
                reopened=step.reopened,
                provider_sid=step.provider_sid,
                error_code=step.error_code,
                body=step.body,
                kind=step.kind,
            )
        )
        log.info("send step", status=step.status, applied=applied, user_id=step.user_id)
