"""Which databases the product's migrations work on, by name, from settings: the legacy source
they read (and mark) themselves, and each service's database, handed to that service's
repositories, which alone know its collections."""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import MigrationSettings, MongoSettings


@dataclass(frozen=True)
class MigrationDatabases:
    """Database names: `legacy` is the migrations' own; the others are the services'."""

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
