"""Ingress refuses to run unable to verify Twilio, refuses the insecure flag off loopback,
refuses provider API addresses and proxy lists that would weaken it, and refuses more than one
uvicorn worker, whose metrics a scrape would see only one of."""

from __future__ import annotations

from pathlib import Path

import pytest
import uvicorn
from pydantic import ValidationError

from services.ingress import __main__ as ingress_main
from services.ingress.__main__ import uvicorn_options
from services.ingress.settings import IngressConfig, IngressSettings, WebhookSettings
from services.sms_worker.settings import LlmSettings
from shared.config import (
    BrokerSettings,
    ConfigError,
    MongoSettings,
    OutboxSettings,
    StripeSettings,
    TwilioSettings,
    load_settings,
)


def _config(
    token: str | None,
    insecure: bool,
    *,
    public_base_url: str | None = "http://127.0.0.1:8000",
    host: str = "127.0.0.1",
    extra_tokens: str = "",
) -> IngressConfig:
    return IngressConfig(
        ingress=IngressSettings(host=host),
        webhooks=WebhookSettings(
            insecure_skip_signature_check=insecure, public_base_url=public_base_url
        ),
        twilio=TwilioSettings(auth_token=token, webhook_auth_tokens=extra_tokens),
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


def test_token_or_explicit_insecure_flag_on_loopback_may_start() -> None:
    _config("token", insecure=False, public_base_url="https://sms.givecare.example").check()
    _config(None, insecure=False, extra_tokens="next-token").check()
    _config(None, insecure=True).check()
    _config(None, insecure=True, public_base_url="http://localhost:8000").check()
    _config(None, insecure=True, public_base_url="http://[::1]:8000", host="::1").check()


@pytest.mark.parametrize(
    ("public_base_url", "host"),
    [
        ("https://sms.givecare.example", "127.0.0.1"),
        (None, "127.0.0.1"),
        ("http://10.0.0.5:8000", "127.0.0.1"),
        ("http://localhost.evil.example:8000", "127.0.0.1"),
        ("http://127.0.0.1:8000", "0.0.0.0"),
    ],
)
def test_the_insecure_flag_is_refused_unless_everything_is_loopback(
    public_base_url: str | None, host: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _config("token", insecure=True, public_base_url=public_base_url, host=host).check()
    message = str(caught.value)
    assert "INSECURE_SKIP_SIGNATURE_CHECK" in message
    assert "PUBLIC_BASE_URL" in message


def test_twilio_webhook_tokens_are_the_auth_token_then_the_rotation_list() -> None:
    twilio = TwilioSettings(auth_token="current", webhook_auth_tokens=" next , ,current,shared ")
    assert twilio.webhook_token_list == ["current", "next", "shared"]
    assert TwilioSettings().webhook_token_list == []


@pytest.mark.parametrize(
    "url",
    [
        "http://api.twilio.com",
        "http://10.1.2.3:8010",
        "ftp://api.example",
        "https://",
        "api.twilio.com",
        "http://localhost.evil.example",
    ],
)
def test_provider_api_addresses_are_https_outside_loopback(url: str) -> None:
    for build in (
        lambda: TwilioSettings(api_base_url=url),
        lambda: StripeSettings(api_base_url=url),
        lambda: LlmSettings(base_url=url),
    ):
        with pytest.raises(ValidationError) as caught:
            build()
        assert "https" in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.twilio.com",
        "http://127.0.0.1:8010",
        "http://localhost:9000/v1",
        "http://[::1]:1",
    ],
)
def test_https_and_local_fakes_are_accepted(url: str) -> None:
    assert TwilioSettings(api_base_url=url).api_base_url == url
    assert StripeSettings(api_base_url=url).api_base_url == url
    assert LlmSettings(base_url=url).base_url == url


@pytest.mark.parametrize("value", ["*", "10.0.0.0/8,*", "proxy.internal", "10.0.0.0/33"])
def test_trusted_proxies_must_be_addresses_or_networks(value: str) -> None:
    with pytest.raises(ValidationError):
        IngressSettings(forwarded_allow_ips=value)


def test_trusted_proxies_list_and_the_uvicorn_options() -> None:
    settings = IngressSettings(
        forwarded_allow_ips=" 10.0.0.0/8, 192.168.1.7 ,", limit_concurrency=50
    )
    assert settings.trusted_proxies == ["10.0.0.0/8", "192.168.1.7"]
    options = uvicorn_options(settings)
    assert options["limit_concurrency"] == 50
    # The app resolves proxies itself (one place): uvicorn's own copy stays off.
    assert options["proxy_headers"] is False
    assert IngressSettings().trusted_proxies == []


def test_more_than_one_uvicorn_worker_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert uvicorn_options(IngressSettings())["workers"] == 1
    monkeypatch.chdir(tmp_path)  # no developer's .env
    monkeypatch.setenv("INGRESS_WORKERS", "4")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token-not-shown")
    with pytest.raises(ConfigError, match=r"INGRESS_WORKERS: .*more ingress replicas"):
        load_settings(IngressSettings)

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("uvicorn started with several workers")

    monkeypatch.setattr(uvicorn, "run", never)
    assert ingress_main.main() == 2
    error = capsys.readouterr().err
    assert "INGRESS_WORKERS" in error
    assert "token-not-shown" not in error
