"""Where the product's migrations read and write: database names, from settings."""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import MigrationSettings, MongoSettings


@dataclass(frozen=True)
class MigrationDatabases:
    legacy: str
    sms_worker: str
    billing_worker: str
    admin: str

    @classmethod
    def from_settings(
        cls, mongo: MongoSettings, migrations: MigrationSettings
    ) -> MigrationDatabases:
        return cls(
            legacy=migrations.legacy_db,
            sms_worker=mongo.database_name("sms_worker"),
            billing_worker=mongo.database_name("billing_worker"),
            admin=mongo.database_name("admin"),
        )
