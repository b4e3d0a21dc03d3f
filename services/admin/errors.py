"""What can go wrong with an admin request, as domain exceptions; the API maps them to HTTP
(`api.py`) and the CLI to exit codes (`services/cli/console.py`), each in one place.

Messages are safe to show: they never carry a token, a phone number or a message body.
"""

from __future__ import annotations


class AdminError(Exception):
    """Base class; `code` is the stable machine-readable reason."""

    code = "admin_error"


class NotAuthenticated(AdminError):
    """No credentials, or credentials that do not hold up (unknown, wrong, expired, revoked)."""

    code = "not_authenticated"


class TooManyAttempts(AdminError):
    """This client failed to authenticate too often; it may try again after `retry_after`."""

    code = "too_many_attempts"

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"too many failed attempts; retry in {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


class Forbidden(AdminError):
    """Authenticated, but the caller's roles do not allow this."""

    code = "forbidden"


class NotFound(AdminError):
    code = "not_found"


class Conflict(AdminError):
    """The target's state does not allow the write (already done, opted out, not failed …)."""

    code = "conflict"


class BootstrapClosed(Conflict):
    """An admin exists (or the bootstrap was used): the bootstrap token no longer works."""

    code = "bootstrap_closed"


class InvalidRequest(AdminError):
    code = "invalid_request"


class BrokerUnavailable(AdminError):
    """RabbitMQ did not answer; nothing was changed there."""

    code = "broker_unavailable"
