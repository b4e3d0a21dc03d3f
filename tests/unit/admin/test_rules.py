"""The admin's pure rules: which failed sends may be retried and how, the keys of retries, how
support sees data, user references, "today" in the metrics' zone, settings and error answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pydantic
import pytest

from domain import send_status
from services.admin.api.errors import error_response
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
from services.admin.queries import Reference, reference, start_of_day
from services.admin.schemas import (
    FailedSend,
    MaskedFailedSend,
    MaskedUserDetail,
    UserDetail,
    UserRecords,
)
from services.admin.settings import AdminSettings
from services.sms_sender.views import Send
from services.sms_worker.views import Conversation, LoggedMessage, Profile, StoredProfile, User
from shared.config import ConfigError, load_settings

NOW = datetime(2031, 3, 1, 12, tzinfo=UTC)


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


def _send(**changes: Any) -> Send:
    return Send(
        key="reply:1",
        to_number="+15551234567",
        body="a private reply",
        kind="reply",
        user_id="u1",
        compliance=False,
        status="failed",
        event_id="e1",
        correlation_id="c1",
        causation_id=None,
        requested_at=NOW,
        error="The 'To' number +15551234567 is not reachable",
        **changes,
    )


def _records() -> UserRecords:
    profile = Profile(user_id="u1", first_name="Ana", zip_code="02139", timezone="UTC")
    return UserRecords(
        user=User(id="u1", phone="+15551234567", created_at=NOW, email="ana.lopez@example.org"),
        operator_id=None,
        operator_roles=[],
        profile=StoredProfile(profile=profile, created_at=NOW, updated_at=NOW),
        conversation=Conversation(
            user_id="u1",
            started_at=NOW,
            last_message_at=NOW,
            interactions=3,
            summary="cares for mom",
        ),
        billing=None,
        messages=[
            LoggedMessage(
                id="m1",
                direction="inbound",
                kind=None,
                status="received",
                created_at=NOW,
                body="secret words",
            )
        ],
    )


def test_support_gets_the_masked_models_with_no_personal_data() -> None:
    masked = MaskedUserDetail.of(_records())
    assert (masked.view, masked.phone, masked.email) == (
        "masked",
        "+*******4567",
        "a***@example.org",
    )
    assert masked.profile is not None
    assert (masked.profile.first_name, masked.profile.zip_code) == ("[hidden]", "[hidden]")
    assert masked.profile.care_recipient_name is None  # absent stays absent
    assert masked.conversation is not None
    assert masked.conversation.summary == "[hidden]"
    assert [(m.body, m.chars) for m in masked.last_messages] == [("[hidden]", 12)]
    shown = masked.model_dump_json()
    assert "4567" in shown
    for secret in ("+15551234567", "Ana", "02139", "cares for mom", "secret words", "lopez"):
        assert secret not in shown

    full = UserDetail.of(_records())
    assert (full.view, full.phone, full.email) == ("full", "+15551234567", "ana.lopez@example.org")
    assert full.profile is not None
    assert full.profile.first_name == "Ana"
    assert [m.body for m in full.last_messages] == ["secret words"]

    send = MaskedFailedSend.of(_send(), retryable=False)
    assert (send.to_number, send.body, send.chars) == ("+*******4567", "[hidden]", 15)
    assert "+15551234567" not in send.model_dump_json()
    assert FailedSend.of(_send(), retryable=True).to_number == "+15551234567"


def test_the_masked_models_refuse_what_support_may_not_see() -> None:
    """The masked models' types are the rule: a phone with more than four digits or a personal
    field with text in it is not a valid masked answer, however it was built."""
    masked = MaskedUserDetail.of(_records()).model_dump()
    assert MaskedUserDetail.model_validate(masked).phone == "+*******4567"
    with pytest.raises(pydantic.ValidationError):
        MaskedUserDetail.model_validate({**masked, "phone": "+15551234567"})
    with pytest.raises(pydantic.ValidationError):
        MaskedUserDetail.model_validate(
            {**masked, "profile": {**masked["profile"], "first_name": "Ana"}}
        )
    with pytest.raises(pydantic.ValidationError):
        MaskedFailedSend.model_validate(
            {**MaskedFailedSend.of(_send(), retryable=True).model_dump(), "body": "a reply"}
        )


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
