"""The product's data migrations, in the order they run (framework: `shared.migrations`).

001 and 002 are backfills from the legacy store; 003 and 004 are their cleanups, which refuse to
run until the backfill they follow has completed and verified.
"""

from __future__ import annotations

from datetime import datetime

from services.migrations import message_parts, split_users
from services.migrations.targets import MigrationDatabases
from shared.config import MigrationSettings, MongoSettings
from shared.migrations import Migration


def product_migrations(
    mongo: MongoSettings,
    settings: MigrationSettings,
    *,
    now: datetime,
    default_timezone: str,
) -> dict[str, Migration]:
    """Every migration, by id, bound to this deployment's database names."""
    databases = MigrationDatabases.from_settings(mongo, settings)
    timezone = default_timezone
    migrations: list[Migration] = [
        split_users.SplitUsers(databases, now=now, default_timezone=timezone),
        message_parts.NormalizeMessageParts(databases, now=now),
        split_users.cleanup(databases),
        message_parts.cleanup(databases),
    ]
    return {migration.id: migration for migration in migrations}
