"""MongoDB access shared by all services: client factory, per-service database, indexes."""

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
    "Database",
    "Document",
    "IndexDeclarations",
    "MongoClient",
    "Session",
    "TransactionsUnavailable",
    "atomic_writes",
    "create_client",
    "ensure_indexes",
    "ping",
    "require_transactions",
    "service_database",
    "unset_or_before",
]
