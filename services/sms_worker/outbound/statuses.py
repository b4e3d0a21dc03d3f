"""The life of an outbound message and the one rule status changes obey: never backwards.

`pending → sending → sent → delivered | undelivered | failed`, plus `permanently_failed` and
`suppressed`. Twilio's own statuses are mapped onto these; callbacks arrive out of order, so a
status is applied only when it ranks above the current one, and final states stay final.
"""

from __future__ import annotations

from typing import Final

PENDING: Final = "pending"
SENDING: Final = "sending"
SENT: Final = "sent"
DELIVERED: Final = "delivered"
UNDELIVERED: Final = "undelivered"
FAILED: Final = "failed"
PERMANENTLY_FAILED: Final = "permanently_failed"
SUPPRESSED: Final = "suppressed"

_RANK: Final = {
    PENDING: 0,
    SENDING: 1,
    SENT: 2,
    DELIVERED: 3,
    UNDELIVERED: 3,
    FAILED: 3,
    PERMANENTLY_FAILED: 3,
    SUPPRESSED: 3,
}
STATUSES: Final = tuple(_RANK)
FINAL: Final = frozenset(status for status, rank in _RANK.items() if rank == 3)

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


def rank(status: str) -> int:
    return _RANK[status]


def advances(current: str, new: str) -> bool:
    """Whether `new` moves a message forward from `current` (out-of-order callbacks do not)."""
    return rank(new) > rank(current)


def below(status: str) -> list[str]:
    """The statuses `status` may replace: the filter of a never-backwards update."""
    return [candidate for candidate in STATUSES if rank(candidate) < rank(status)]


def from_twilio(twilio_status: str) -> str | None:
    """Our status for a Twilio status; None for statuses of inbound messages (`received`)."""
    return _FROM_TWILIO.get(twilio_status.strip().lower())
