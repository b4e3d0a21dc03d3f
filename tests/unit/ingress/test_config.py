"""Ingress refuses to run unable to verify Twilio, unless explicitly told it is development."""

from __future__ import annotations

import pytest

from services.ingress.app import IngressConfig
from services.ingress.settings import IngressSettings, WebhookSettings
from shared.config import (
    BrokerSettings,
    ConfigError,
    MongoSettings,
    OutboxSettings,
    StripeSettings,
    TwilioSettings,
)


def _config(token: str | None, insecure: bool) -> IngressConfig:
    return IngressConfig(
        ingress=IngressSettings(),
        webhooks=WebhookSettings(insecure_skip_signature_check=insecure),
        twilio=TwilioSettings(auth_token=token),
        stripe=StripeSettings(),
        broker=BrokerSettings(),
        mongo=MongoSettings(),
        outbox=OutboxSettings(),
    )


def test_missing_twilio_token_refuses_to_start_naming_both_variables() -> None:
    with pytest.raises(ConfigError) as caught:
        _config(None, insecure=False).check()
    assert "TWILIO_AUTH_TOKEN" in str(caught.value)
    assert "INSECURE_SKIP_SIGNATURE_CHECK" in str(caught.value)
    with pytest.raises(ConfigError):
        _config("", insecure=False).check()


def test_token_or_explicit_insecure_flag_may_start() -> None:
    _config("token", insecure=False).check()
    _config(None, insecure=True).check()
