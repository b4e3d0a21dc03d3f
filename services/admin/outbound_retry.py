"""Which failed outbound messages an admin may retry, and how — pure rules over the sender's row.

A retry is always a new `sms.outbound.requested` through the normal path (the sender's claim,
opt-out check and cap), never a write to the sender's rows:

* `failed` after exhausted retries → the *original* request again (same event, same key): the
  sender reopens the row, and its claim and in-doubt lookup still keep it to one SMS;
* a message the carrier did not deliver (`undelivered`, `failed` by status callback) or one held
  back by the send cap → a new send under `<key>:admin-retry:<n>`, so the provider is asked again
  and two clicks on the same retry still make one SMS;
* refused for good (`permanently_failed`: invalid number, unsubscribed, body too long), opted out,
  or not failed at all → not retryable, with the reason.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from domain import send_status
from services.sms_sender.views import RETRIES_EXHAUSTED, SEND_CAP

RETRY_KEY_MARKER: Final = ":admin-retry:"
FAILED_STATUSES: Final = (
    send_status.FAILED,
    send_status.PERMANENTLY_FAILED,
    send_status.UNDELIVERED,
)


class RetryMode(Enum):
    REOPEN = "reopen"
    RESEND = "resend"


class NotRetryable(Exception):
    """The message cannot be retried; the text says why (no phone number, no body)."""


def retry_mode(status: str, reason: str | None) -> RetryMode:
    if status == send_status.FAILED and reason == RETRIES_EXHAUSTED:
        return RetryMode.REOPEN
    if status in (send_status.FAILED, send_status.UNDELIVERED):
        return RetryMode.RESEND
    if status == send_status.SUPPRESSED and reason == SEND_CAP:
        return RetryMode.RESEND
    if status == send_status.SUPPRESSED:
        raise NotRetryable(f"suppressed ({reason or 'no reason'}); the recipient opted out")
    if status == send_status.PERMANENTLY_FAILED:
        raise NotRetryable(f"refused for good ({reason or 'no reason'}); a retry would fail again")
    raise NotRetryable(f"status is {status}, not failed")


def retryable(status: str, reason: str | None) -> bool:
    try:
        retry_mode(status, reason)
    except NotRetryable:
        return False
    return True


def base_key(key: str) -> str:
    """The send a retry series belongs to (retries of retries stay one flat series)."""
    return key.split(RETRY_KEY_MARKER, 1)[0]


def resend_key(key: str, existing_retries: int) -> str:
    """The idempotency key of the next admin retry of `key`'s series."""
    return f"{base_key(key)}{RETRY_KEY_MARKER}{existing_retries + 1}"
