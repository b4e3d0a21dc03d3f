"""`make run`'s development defaults and how the command-line tools find them again: without
Twilio credentials a fake Twilio is started and the sender pointed at it; whatever the
environment or `.env` already sets is left alone; the values made up are handed to
`givecare chat`/`stripe send` through an owner-only env file, where they win."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.devtools.local_run import LocalRun
from services.devtools.system import (
    DEV_FROM_NUMBER,
    FAKE_TWILIO,
    SERVICES,
    development_setup,
    line_prefix,
)
from shared.local_servers.env_file import read_env_file, write_env_file

URLS = {"RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:5999/", "MONGODB_URL": "mongodb://x"}
_CONFIGURABLE = (
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM_NUMBER",
    "TWILIO_MESSAGING_SERVICE_SID",
    "TWILIO_API_BASE_URL",
    "TWILIO_STATUS_CALLBACK_URL",
    "STRIPE_WEBHOOK_SECRET",
    "PUBLIC_BASE_URL",
    "INGRESS_PORT",
    "GIVECARE_ENV",
)


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing configured: no such variables, and a working directory without `.env`."""
    for name in _CONFIGURABLE:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_env_files_round_trip_shell_quoted_and_private(tmp_path: Path) -> None:
    values = {"MONGODB_URL": "mongodb://127.0.0.1:1/?a=1&retryWrites=false", "TOKEN": "it's"}
    path = tmp_path / "devtools.env"
    write_env_file(path, values)
    assert read_env_file(path) == values
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_env_file(tmp_path / "missing.env") == {}


def test_without_twilio_credentials_a_fake_twilio_takes_the_messages() -> None:
    setup = development_setup(URLS)
    assert setup.fake_twilio_url == "http://127.0.0.1:8010"
    assert setup.specs == (FAKE_TWILIO, *SERVICES)
    assert setup.ingress_url == "http://127.0.0.1:8000"
    env = setup.env
    assert env["TWILIO_API_BASE_URL"] == setup.fake_twilio_url
    assert env["TWILIO_AUTH_TOKEN"].startswith("dev-")
    assert env["TWILIO_ACCOUNT_SID"].startswith("AC")
    assert env["TWILIO_FROM_NUMBER"] == DEV_FROM_NUMBER
    assert env["STRIPE_WEBHOOK_SECRET"].startswith("whsec_dev_")
    assert env["RABBITMQ_URL"] == URLS["RABBITMQ_URL"]
    assert setup.made_up == {name: env[name] for name in setup.made_up}
    assert "TWILIO_AUTH_TOKEN" in setup.made_up
    assert env["GIVECARE_ENV"] == "development"


def test_a_deployment_kind_set_in_dotenv_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("GIVECARE_ENV=production\n")
    setup = development_setup(URLS)
    assert "GIVECARE_ENV" not in setup.env
    assert "GIVECARE_ENV" not in setup.made_up


def test_credentials_in_dotenv_mean_real_twilio_and_are_left_where_they_are(
    tmp_path: Path,
) -> None:
    (tmp_path / ".env").write_text(
        "TWILIO_ACCOUNT_SID=AC123\nTWILIO_AUTH_TOKEN=real-token\nTWILIO_FROM_NUMBER=+15550001111\n"
        "STRIPE_WEBHOOK_SECRET=whsec_real\nINGRESS_PORT=8123\n"
    )
    setup = development_setup(URLS)
    assert setup.fake_twilio_url is None
    assert setup.specs == SERVICES
    assert setup.ingress_url == "http://127.0.0.1:8123"
    # The services read these from `.env` themselves; nothing here overrides or copies them.
    for name in ("TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "STRIPE_WEBHOOK_SECRET"):
        assert name not in setup.env
        assert name not in setup.made_up


def test_the_tools_use_what_make_run_made_up_over_their_own_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    setup = development_setup(URLS)
    env_file = tmp_path / "devtools.env"
    write_env_file(env_file, setup.made_up)
    # Another terminal, with leftovers of some other configuration.
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "leftover-token")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_leftover")
    local = LocalRun.load(env_file)
    assert local.twilio_auth_token == setup.env["TWILIO_AUTH_TOKEN"]
    assert local.stripe_secrets == [setup.env["STRIPE_WEBHOOK_SECRET"]]
    assert local.ingress_url == setup.ingress_url
    assert local.fake_twilio_url == setup.fake_twilio_url
    assert local.our_number == DEV_FROM_NUMBER


def test_a_token_from_the_environment_is_used_but_never_written_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token-from-the-shell")
    setup = development_setup(URLS)
    assert setup.fake_twilio_url is not None  # a token alone is not a Twilio account
    assert setup.env["TWILIO_AUTH_TOKEN"] == "token-from-the-shell"  # the fake checks it too
    assert "TWILIO_AUTH_TOKEN" not in setup.made_up


def test_without_make_run_the_tools_read_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "shell-token")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://sms.example.org")
    local = LocalRun.load(tmp_path / "absent.env")
    assert local.twilio_auth_token == "shell-token"
    assert local.ingress_url == "https://sms.example.org"
    assert local.fake_twilio_url is None
    assert local.stripe_secrets == []


def test_each_process_gets_its_own_colour_in_a_terminal_and_none_in_a_file() -> None:
    names = [spec.name for spec in SERVICES]
    coloured = [line_prefix(name, index, colour=True) for index, name in enumerate(names)]
    assert len(set(coloured)) == len(names)
    assert all(prefix.startswith(b"\x1b[") and prefix.endswith(b"\x1b[0m") for prefix in coloured)
    plain = line_prefix("ingress", 0, colour=False)
    assert plain == b"[    ingress] "
