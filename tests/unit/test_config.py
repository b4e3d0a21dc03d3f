"""Settings: defaults that run locally, env vars that override, errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import (
    BrokerSettings,
    ConfigError,
    LoggingSettings,
    MongoSettings,
    StripeSettings,
    load_settings,
)
from tests.support.settings_catalog import setting_variables


def test_defaults_point_at_local_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RABBITMQ_URL", raising=False)
    settings = load_settings(BrokerSettings)
    assert settings.url.get_secret_value().startswith("amqp://")
    assert settings.exchange == "givecare.events"
    assert settings.prefetch == 50


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RABBITMQ_PREFETCH", "7")
    monkeypatch.setenv("MONGODB_DB_SCHEDULER", "sched_db")
    assert load_settings(BrokerSettings).prefetch == 7
    mongo = load_settings(MongoSettings)
    assert mongo.database_name("scheduler") == "sched_db"
    assert mongo.database_name("ingress") == "givecare_ingress"


def test_invalid_value_names_the_variable_without_its_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RABBITMQ_PREFETCH", "lots")
    monkeypatch.setenv("RABBITMQ_URL", "http://user:hunter2@example.invalid/")
    with pytest.raises(ConfigError) as caught:
        load_settings(BrokerSettings)
    message = str(caught.value)
    assert "RABBITMQ_PREFETCH" in message
    assert "RABBITMQ_URL" in message
    assert "hunter2" not in message
    assert "lots" not in message


def test_mongo_url_scheme_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_URL", "postgres://localhost/db")
    with pytest.raises(ConfigError, match="MONGODB_URL: Value error, scheme must be"):
        load_settings(MongoSettings)


def test_unknown_service_database_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown service"):
        MongoSettings().database_name("billing")


def test_log_level_is_case_insensitive_and_format_explicit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("LOG_FORMAT", "json")
    settings = load_settings(LoggingSettings)
    assert settings.level == "DEBUG"
    assert settings.as_json


def test_stripe_webhook_secrets_allow_rotation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_new, whsec_old")
    assert load_settings(StripeSettings).webhook_secret_list == ["whsec_new", "whsec_old"]


def test_env_example_documents_every_setting() -> None:
    documented = Path(__file__).parents[2].joinpath(".env.example").read_text()
    variables = list(setting_variables())
    assert len(variables) > 20
    assert [v for v in variables if f"{v}=" not in documented] == []
