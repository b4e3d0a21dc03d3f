"""MongoDB access shared by all services: client factory, per-service database, indexes."""

from shared.mongo.bulk import (
    BulkFailure,
    Provenance,
    changed_since_migrated,
    insert_absent,
    migrated_from,
    upsert_absent,
)
from shared.mongo.client import (
    Database,
    Document,
    MongoClient,
    TransactionsUnavailable,
    create_client,
    ping,
    require_transactions,
    service_database,
)
from shared.mongo.filters import unset_or_before
from shared.mongo.indexes import IndexDeclarations, ensure_indexes
from shared.mongo.transactions import Atomic, Session, atomic_writes

__all__ = [
    "Atomic",
    "BulkFailure",
    "Database",
    "Document",
    "IndexDeclarations",
    "MongoClient",
    "Provenance",
    "Session",
    "TransactionsUnavailable",
    "atomic_writes",
    "changed_since_migrated",
    "create_client",
    "ensure_indexes",
    "insert_absent",
    "migrated_from",
    "ping",
    "require_transactions",
    "service_database",
    "unset_or_before",
    "upsert_absent",
]
