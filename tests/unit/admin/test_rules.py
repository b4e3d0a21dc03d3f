"""The admin's pure rules: which failed sends may be retried and how, the keys of retries, how
support sees data, user references, "today" in the metrics' zone, settings and error answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from domain import send_status
from services.admin.api import error_response
from services.admin.auth import Actor, Role
from services.admin.errors import (
    AdminError,
    BootstrapClosed,
    BrokerUnavailable,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotAuthenticated,
    NotFound,
    TooManyAttempts,
)
from services.admin.outbound_retry import (
    FAILED_STATUSES,
    NotRetryable,
    RetryMode,
    base_key,
    resend_key,
    retry_mode,
    retryable,
)
from services.admin.queries import Reference, Viewer, reference, start_of_day
from services.admin.settings import AdminSettings
from shared.config import ConfigError, load_settings

SUPPORT = Actor(kind="token", id="t", operator_id="u", roles=frozenset({Role.SUPPORT}))
ADMIN = Actor(kind="token", id="t", operator_id="u", roles=frozenset({Role.ADMIN}))


@pytest.mark.parametrize(
    ("status", "reason", "mode"),
    [
        (send_status.FAILED, "retries_exhausted", RetryMode.REOPEN),
        (send_status.FAILED, None, RetryMode.RESEND),
        (send_status.UNDELIVERED, None, RetryMode.RESEND),
        (send_status.SUPPRESSED, "send_cap", RetryMode.RESEND),
    ],
)
def test_retryable_failures_and_how(status: str, reason: str | None, mode: RetryMode) -> None:
    assert retry_mode(status, reason) is mode
    assert retryable(status, reason)


@pytest.mark.parametrize(
    ("status", "reason", "why"),
    [
        (send_status.PERMANENTLY_FAILED, "unsubscribed", "refused for good"),
        (send_status.PERMANENTLY_FAILED, "body_too_long", "refused for good"),
        (send_status.SUPPRESSED, "opted_out", "opted out"),
        (send_status.PENDING, None, "not failed"),
        (send_status.SENDING, None, "not failed"),
        (send_status.SENT, None, "not failed"),
        (send_status.DELIVERED, None, "not failed"),
    ],
)
def test_what_may_not_be_retried_says_why(status: str, reason: str | None, why: str) -> None:
    with pytest.raises(NotRetryable, match=why):
        retry_mode(status, reason)
    assert not retryable(status, reason)


def test_without_a_reason_only_carrier_failures_are_retried() -> None:
    assert set(FAILED_STATUSES) <= set(send_status.STATUSES)
    assert {s for s in send_status.STATUSES if retryable(s, None)} == {
        send_status.FAILED,
        send_status.UNDELIVERED,
    }


def test_retries_form_one_flat_series_per_send() -> None:
    assert resend_key("reply:abc", 0) == "reply:abc:admin-retry:1"
    assert resend_key("reply:abc:admin-retry:1", 1) == "reply:abc:admin-retry:2"
    assert base_key("reply:abc:admin-retry:7") == "reply:abc"
    assert base_key("proactive:u:checkin:3") == "proactive:u:checkin:3"


def test_support_sees_masked_phones_and_no_personal_data() -> None:
    support, admin = Viewer(SUPPORT), Viewer(ADMIN)
    assert support.phone("+15551234567") == "+*******4567"
    assert admin.phone("+15551234567") == "+15551234567"
    assert support.email("ana.lopez@example.org") == "a***@example.org"
    assert support.personal("Ana") == "[hidden]"
    assert support.personal(None) is None
    assert admin.personal("Ana") == "Ana"
    assert support.phone(None) is None


def test_user_references_are_phones_or_ids() -> None:
    assert reference("+1 (555) 123-4567") == Reference(phone="+15551234567")
    assert reference(" 0190a000-user ") == Reference(id="0190a000-user")
    for bad in ("", "  ", "+12"):
        with pytest.raises(InvalidRequest):
            reference(bad)


def test_today_starts_at_midnight_in_the_metrics_zone() -> None:
    now = datetime(2031, 3, 1, 3, 30, tzinfo=UTC)
    assert start_of_day(now, "UTC") == datetime(2031, 3, 1, tzinfo=UTC)
    # 03:30 UTC is still the evening before in New York.
    assert start_of_day(now, "America/New_York") == datetime(2031, 2, 28, 5, tzinfo=UTC)


def test_settings_refuse_a_short_bootstrap_token_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADMIN_BOOTSTRAP_TOKEN", "short-secret")
    monkeypatch.setenv("ADMIN_METRICS_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ConfigError) as refused:
        load_settings(AdminSettings)
    message = str(refused.value)
    assert "ADMIN_BOOTSTRAP_TOKEN" in message
    assert "ADMIN_METRICS_TIMEZONE" in message
    assert "short-secret" not in message
    monkeypatch.setenv("ADMIN_BOOTSTRAP_TOKEN", "")
    monkeypatch.setenv("ADMIN_METRICS_TIMEZONE", "Europe/Berlin")
    settings = load_settings(AdminSettings)
    assert settings.bootstrap_token is None
    assert settings.metrics_timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (NotAuthenticated("x"), 401, "not_authenticated"),
        (Forbidden("x"), 403, "forbidden"),
        (NotFound("x"), 404, "not_found"),
        (Conflict("x"), 409, "conflict"),
        (BootstrapClosed("x"), 409, "bootstrap_closed"),
        (InvalidRequest("x"), 422, "invalid_request"),
        (TooManyAttempts(7), 429, "too_many_attempts"),
        (BrokerUnavailable("x"), 503, "broker_unavailable"),
    ],
)
def test_errors_become_json_answers(error: AdminError, status: int, code: str) -> None:
    response = error_response(error)
    assert response.status_code == status
    assert json.loads(bytes(response.body))["error"] == code
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    if status == 429:
        assert response.headers["retry-after"] == "7"
