"""Twilio's message statuses in the send-status vocabulary of `domain.send_status`."""

from __future__ import annotations

from typing import Final

from domain.send_status import DELIVERED, FAILED, SENT, UNDELIVERED

# Twilio message statuses (https://www.twilio.com/docs/messaging/api/message-resource) → ours.
# Everything Twilio accepted but has not yet seen delivered is "sent" from our side.
_FROM_TWILIO: Final = {
    "accepted": SENT,
    "scheduled": SENT,
    "queued": SENT,
    "sending": SENT,
    "sent": SENT,
    "delivered": DELIVERED,
    "read": DELIVERED,
    "partially_delivered": DELIVERED,
    "undelivered": UNDELIVERED,
    "failed": FAILED,
    "canceled": FAILED,
}


def from_twilio(twilio_status: str) -> str | None:
    """Our status for a Twilio status; None for statuses of inbound messages (`received`)."""
    return _FROM_TWILIO.get(twilio_status.strip().lower())
