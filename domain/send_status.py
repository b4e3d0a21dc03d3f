"""The life of an outbound SMS and the one rule its status obeys: never backwards.

`pending → sending → sent → delivered | undelivered | failed`, plus `permanently_failed` and
`suppressed`. The sender moves a send along it and publishes each step (`sms.send.updated`);
the SMS worker's conversation log follows. Updates arrive out of order, so a status is applied
only when it ranks above the current one, and final states stay final.
"""

from __future__ import annotations

from typing import Final, Literal

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
SendStatus = Literal[
    "pending",
    "sending",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "permanently_failed",
    "suppressed",
]
FINAL: Final = frozenset(status for status, rank in _RANK.items() if rank == 3)


def rank(status: str) -> int:
    return _RANK[status]


def advances(current: str, new: str) -> bool:
    """Whether `new` moves a message forward from `current` (out-of-order callbacks do not)."""
    return rank(new) > rank(current)


def below(status: str) -> list[str]:
    """The statuses `status` may replace: the filter of a never-backwards update."""
    return [candidate for candidate in STATUSES if rank(candidate) < rank(status)]
