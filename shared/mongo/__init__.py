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
from shared.mongo.indexes import IndexDeclarations, ensure_indexes

__all__ = [
    "Database",
    "Document",
    "IndexDeclarations",
    "MongoClient",
    "create_client",
    "ensure_indexes",
    "ping",
    "service_database",
    "supports_transactions",
]
