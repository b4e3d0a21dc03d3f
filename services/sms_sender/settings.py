"""The sender's configuration: Twilio's (`TWILIO_*`), the sender's own (`SENDER_*`) and what kind
of deployment this is (`GIVECARE_ENV`), all declared in shared/config.py and documented in
.env.example, loaded and checked together here so a sender that cannot send never starts."""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import (
    ConfigError,
    DeploymentSettings,
    SenderSettings,
    TwilioSettings,
    load_settings,
)


@dataclass(frozen=True)
class SenderConfig:
    twilio: TwilioSettings
    sender: SenderSettings
    deployment: DeploymentSettings

    @classmethod
    def from_environment(cls) -> SenderConfig:
        config = cls(
            load_settings(TwilioSettings),
            load_settings(SenderSettings),
            load_settings(DeploymentSettings),
        )
        config.check()
        return config

    def check(self) -> None:
        """Refuse combinations that would break the exactly-once guarantee or cannot send."""
        if self.sender.lease_seconds <= 2 * self.twilio.request_timeout_seconds:
            # A lease that can run out while its holder still waits for Twilio would let a
            # second sender take over a send whose first call is still in flight.
            raise ConfigError(
                "invalid configuration: SENDER_LEASE_SECONDS must exceed twice "
                "TWILIO_REQUEST_TIMEOUT_SECONDS"
            )
        if self.sender.transport == "console":
            # The console records every SMS as sent and delivers none: a crisis reply would
            # vanish with nothing failing. Only a developer's own machine or cluster may.
            if not self.deployment.development:
                raise ConfigError(
                    "invalid configuration: SENDER_TRANSPORT=console delivers no SMS and is "
                    "accepted only with GIVECARE_ENV=development"
                )
            return
        missing = self.missing_twilio_settings()
        if missing:
            raise ConfigError(
                f"invalid configuration: {', '.join(missing)}: required to send through Twilio "
                "(SENDER_TRANSPORT=twilio, the default); without Twilio, in development only, "
                "set SENDER_TRANSPORT=console and GIVECARE_ENV=development"
            )

    def missing_twilio_settings(self) -> list[str]:
        """The names (never the values) of what the Twilio transport needs and lacks."""
        twilio = self.twilio
        missing = []
        if not (twilio.account_sid or "").strip():
            missing.append("TWILIO_ACCOUNT_SID")
        if twilio.auth_token is None or not twilio.auth_token.get_secret_value().strip():
            missing.append("TWILIO_AUTH_TOKEN")
        if not (twilio.from_number or twilio.messaging_service_sid):
            missing.append("TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID")
        return missing
