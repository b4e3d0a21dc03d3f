"""The StatusCallback URL carries the key intact; the console transport never logs the body;
configurations that would break exactly-once sending are refused at start-up."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from services.sms_sender.settings import SenderConfig
from services.sms_sender.transport import (
    ConsoleTransport,
    OutgoingSms,
    TwilioTransport,
    open_transport,
    with_outbound_key,
)
from shared.config import ConfigError, SenderSettings, TwilioSettings
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
    transport = open_transport(TwilioSettings())
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


def test_lease_must_outlast_a_provider_call() -> None:
    config = SenderConfig(
        TwilioSettings(request_timeout_seconds=10), SenderSettings(lease_seconds=15)
    )
    with pytest.raises(ConfigError, match="SENDER_LEASE_SECONDS"):
        config.check()


def test_credentials_need_a_sender_identity() -> None:
    config = SenderConfig(TwilioSettings(account_sid="AC1", auth_token="token"), SenderSettings())
    with pytest.raises(ConfigError, match="TWILIO_FROM_NUMBER"):
        config.check()
    SenderConfig(
        TwilioSettings(account_sid="AC1", auth_token="token", messaging_service_sid="MG1"),
        SenderSettings(),
    ).check()
