"""The migrations this deployment knows, in the order they are meant to run."""

from __future__ import annotations

from shared.migrations.framework import Migration

MIGRATIONS: dict[str, Migration] = {}


def register(migration: Migration) -> Migration:
    if migration.id in MIGRATIONS:
        raise ValueError(f"migration {migration.id} registered twice")
    MIGRATIONS[migration.id] = migration
    return migration
