"""MongoDB access shared by all services: client factory, per-service database, indexes."""

from shared.mongo.client import (
    Database,
    Document,
    MongoClient,
    create_client,
    ping,
    service_database,
    supports_transactions,
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
    "atomic_writes",
    "create_client",
    "ensure_indexes",
    "ping",
    "service_database",
    "supports_transactions",
    "unset_or_before",
]
