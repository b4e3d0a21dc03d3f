"""The StatusCallback URL carries the key intact; the console transport never logs the body;
configurations that would break exactly-once sending, or could not send at all, are refused at
start-up: no Twilio credentials, or the console anywhere but in development (fail closed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from services.sms_sender import __main__ as sender_main
from services.sms_sender.settings import SenderConfig
from services.sms_sender.transport import (
    ConsoleTransport,
    OutgoingSms,
    TwilioTransport,
    open_transport,
    with_outbound_key,
)
from shared.config import ConfigError, DeploymentSettings, SenderSettings, TwilioSettings
from shared.logging import configure_logging


@pytest.mark.parametrize(
    "base",
    [
        "https://ingress.example/webhooks/twilio/status",
        "https://ingress.example/webhooks/twilio/status?source=sender",
    ],
)
def test_status_callback_url_carries_the_key_url_encoded(base: str) -> None:
    key = "proactive:u1:checkin:2026-11-21 &key=evil"
    url = with_outbound_key(base, key)
    query = parse_qs(urlsplit(url).query)
    assert query["key"] == [key]
    assert url.startswith(base.split("?")[0])
    if "?" in base:
        assert query["source"] == ["sender"]


async def test_console_transport_marks_the_send_and_keeps_the_body_out_of_logs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("sms_worker", level="INFO", json=True)
    transport = open_transport("console", TwilioSettings())
    assert isinstance(transport, ConsoleTransport)
    body = "Private words about my mother"
    sent = await transport.send(OutgoingSms("reply:1", "+15551234567", body, "reply"))
    assert sent.sid.startswith("CONSOLE")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    console_lines = [line for line in lines if line.get("transport") == "console"]
    assert console_lines
    output = json.dumps(lines)
    assert body not in output
    assert "+15551234567" not in output
    assert "NOT delivered" in console_lines[-1]["event"]
    assert await transport.find_sent("+15551234567", datetime(1970, 1, 1, tzinfo=UTC), 10) == []


def test_twilio_transport_needs_credentials() -> None:
    with pytest.raises(ValueError, match="not configured"):
        TwilioTransport(TwilioSettings(account_sid="AC1"))


PRODUCTION = DeploymentSettings(env="production")
DEVELOPMENT = DeploymentSettings(env="development")
TWILIO = TwilioSettings(account_sid="AC1", auth_token="token", messaging_service_sid="MG1")


def test_lease_must_outlast_a_provider_call() -> None:
    config = SenderConfig(
        TwilioSettings(request_timeout_seconds=10), SenderSettings(lease_seconds=15), DEVELOPMENT
    )
    with pytest.raises(ConfigError, match="SENDER_LEASE_SECONDS"):
        config.check()


def test_credentials_need_a_sender_identity() -> None:
    config = SenderConfig(
        TwilioSettings(account_sid="AC1", auth_token="token"), SenderSettings(), PRODUCTION
    )
    with pytest.raises(ConfigError, match="TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID"):
        config.check()
    SenderConfig(TWILIO, SenderSettings(), PRODUCTION).check()


def test_an_unset_deployment_is_production() -> None:
    assert DeploymentSettings().development is False


@pytest.mark.parametrize("deployment", [PRODUCTION, DEVELOPMENT], ids=["production", "development"])
def test_without_credentials_the_sender_refuses_naming_what_is_missing(
    deployment: DeploymentSettings,
) -> None:
    """Never a silent fall-back to the console: in development too, it must be chosen."""
    config = SenderConfig(TwilioSettings(from_number="+15550001111"), SenderSettings(), deployment)
    with pytest.raises(ConfigError) as refused:
        config.check()
    message = str(refused.value)
    assert "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN:" in message
    assert "TWILIO_FROM_NUMBER" not in message  # it is set
    assert "+15550001111" not in message


def test_a_blank_auth_token_is_missing_and_its_value_never_shown() -> None:
    twilio = TwilioSettings(account_sid="AC-secret-sid", auth_token="  ", from_number="+1555")
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN") as refused:
        SenderConfig(twilio, SenderSettings(), PRODUCTION).check()
    assert "AC-secret-sid" not in str(refused.value)


def test_the_console_is_refused_outside_development() -> None:
    console = SenderSettings(transport="console")
    with pytest.raises(ConfigError, match="GIVECARE_ENV=development"):
        SenderConfig(TwilioSettings(), console, PRODUCTION).check()
    with pytest.raises(ConfigError, match="GIVECARE_ENV=development"):
        SenderConfig(TWILIO, console, PRODUCTION).check()  # credentials do not make it safe
    SenderConfig(TwilioSettings(), console, DEVELOPMENT).check()


async def test_the_chosen_transport_is_the_one_opened() -> None:
    assert isinstance(open_transport("console", TWILIO), ConsoleTransport)
    twilio = open_transport("twilio", TWILIO)
    assert isinstance(twilio, TwilioTransport)
    await twilio.close()


def test_the_process_exits_at_start_with_the_missing_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m services.sms_sender` without credentials: exit 2 before touching the broker,
    the database or Twilio, with the names on stderr."""
    monkeypatch.chdir(tmp_path)  # no developer's .env
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "SENDER_TRANSPORT", "GIVECARE_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TWILIO_MESSAGING_SERVICE_SID", "MG-not-shown")

    def never(config: SenderConfig) -> None:
        raise AssertionError("started without credentials")

    monkeypatch.setattr(sender_main, "serve", never)
    assert sender_main.main() == 2
    error = capsys.readouterr().err
    assert "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN" in error
    assert "MG-not-shown" not in error
