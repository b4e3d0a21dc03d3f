"""The migrations this deployment knows, in the order they are meant to run (the runner and
framework are the platform's, in `shared.migrations`)."""

from __future__ import annotations

from shared.clock import Clock
from shared.config import MigrationSettings, MongoSettings, load_settings
from shared.migrations.framework import Migration


def known_migrations(
    mongo: MongoSettings, settings: MigrationSettings, clock: Clock
) -> dict[str, Migration]:
    from services.migrations import product_migrations
    from services.sms_worker.settings import SmsWorkerSettings

    timezone = load_settings(SmsWorkerSettings).default_timezone
    return product_migrations(mongo, settings, now=clock.now(), default_timezone=timezone)
