"""The sender's configuration: Twilio's (`TWILIO_*`) and the sender's own (`SENDER_*`), both
declared in shared/config.py and documented in .env.example, loaded and checked together here."""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import ConfigError, SenderSettings, TwilioSettings, load_settings


@dataclass(frozen=True)
class SenderConfig:
    twilio: TwilioSettings
    sender: SenderSettings

    @classmethod
    def from_environment(cls) -> SenderConfig:
        config = cls(load_settings(TwilioSettings), load_settings(SenderSettings))
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
        if self.twilio.configured and not (
            self.twilio.from_number or self.twilio.messaging_service_sid
        ):
            raise ConfigError(
                "invalid configuration: TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID "
                "is required with Twilio credentials"
            )
