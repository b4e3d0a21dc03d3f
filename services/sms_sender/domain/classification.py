"""Which provider errors are worth retrying, and which leave us unsure whether the SMS went out.

Transient (retry with backoff): no HTTP answer (network error, timeout), 429, 5xx, and
authentication failures (configuration, fixed by an operator). Permanent (record, never retry):
any other 4xx, notably Twilio's codes for numbers that can never receive our messages. An
"uncertain" failure may have created the message at Twilio, so the next attempt asks Twilio first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# The recipient replied STOP to our sender: Twilio blocks every message until they opt back in.
UNSUBSCRIBED: Final = 21610
# Codes that name a reason a message can never succeed, as recorded on the row.
PERMANENT_CODES: Final = {
    21211: "invalid 'To' phone number",
    21408: "permission to send to this region is not enabled",
    21602: "message body is required",
    21606: "'From' number is not a valid message-capable number",
    21610: "recipient unsubscribed (replied STOP)",
    21612: "'To' number is not currently reachable",
    21614: "'To' number is not a valid mobile number",
    21617: "message body exceeds 1600 characters",
    21635: "'To' number cannot be a landline",
}
_AUTHENTICATION_STATUSES: Final = frozenset({401, 403})


@dataclass(frozen=True)
class ErrorClass:
    transient: bool
    # The provider may have accepted the message despite the error.
    uncertain: bool


def classify(http_status: int | None, code: int | None) -> ErrorClass:
    """Classify a failed send; `http_status` None means no HTTP answer at all."""
    if http_status is None or http_status >= 500:
        return ErrorClass(transient=True, uncertain=True)
    if http_status == 429 or http_status in _AUTHENTICATION_STATUSES:
        return ErrorClass(transient=True, uncertain=False)
    if code in PERMANENT_CODES or 400 <= http_status < 500:
        return ErrorClass(transient=False, uncertain=False)
    # A non-error status reported as an error (a 3xx, say) is not understood: retry, carefully.
    return ErrorClass(transient=True, uncertain=True)


def describe(code: int | None, fallback: str) -> str:
    return PERMANENT_CODES.get(code, fallback) if code is not None else fallback
