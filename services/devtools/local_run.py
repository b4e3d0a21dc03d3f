"""How a command-line tool finds the system `make run` started: ingress, our Twilio number, the
fake Twilio, and the secrets webhooks are signed with.

Settings are read as the services read them (environment, then `.env`), except that the values
`make run` made up for this run — development tokens, the fake Twilio's address — come from
`<state dir>/devtools.env` and win: those are the values the services were started with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic_settings import BaseSettings

from services.devtools.system import DEV_FROM_NUMBER, DEVTOOLS_ENV_FILE
from services.ingress.settings import IngressSettings, WebhookSettings
from shared.config import StripeSettings, TwilioSettings, load_settings
from shared.local_servers.env_file import read_env_file

DEFAULT_DEVTOOLS_ENV = Path(".local/infra") / DEVTOOLS_ENV_FILE
_S = TypeVar("_S", bound=BaseSettings)


@dataclass(frozen=True)
class LocalRun:
    ingress_url: str
    # The number caregivers text (the inbound webhook's `To`).
    our_number: str
    twilio_account_sid: str | None
    twilio_auth_token: str | None
    # Where replies can be read back; None when real Twilio sends them.
    fake_twilio_url: str | None
    stripe_secrets: list[str]

    @classmethod
    def load(cls, devtools_env: Path = DEFAULT_DEVTOOLS_ENV) -> LocalRun:
        made_up = read_env_file(devtools_env)
        ingress = load_settings(IngressSettings)
        webhooks = _load(WebhookSettings, made_up)
        twilio = _load(TwilioSettings, made_up)
        stripe = _load(StripeSettings, made_up)
        token = twilio.auth_token.get_secret_value() if twilio.auth_token else None
        return cls(
            ingress_url=webhooks.public_base_url or f"http://127.0.0.1:{ingress.port}",
            our_number=twilio.from_number or DEV_FROM_NUMBER,
            twilio_account_sid=twilio.account_sid,
            twilio_auth_token=token or None,
            fake_twilio_url=twilio.api_base_url,
            stripe_secrets=stripe.webhook_secret_list,
        )


def _load(settings_class: type[_S], made_up: dict[str, str]) -> _S:
    """`settings_class` from the environment and `.env`, with `made_up` values on top."""
    prefix = str(settings_class.model_config.get("env_prefix", ""))
    fields = settings_class.model_fields
    overrides: dict[str, Any] = {}
    for key, value in made_up.items():
        field = key.removeprefix(prefix).lower()
        if key.startswith(prefix) and field in fields:
            overrides[field] = value
    return load_settings(settings_class, **overrides)
