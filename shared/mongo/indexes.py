"""Index declarations live beside the code that queries them and are applied at start-up.

Applying is idempotent. A changed TTL (a retention setting) is applied in place with `collMod`
instead of failing start-up with an options conflict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import structlog
from pymongo import IndexModel
from pymongo.errors import OperationFailure

from shared.mongo.client import Database

_INDEX_OPTIONS_CONFLICT = 85
_INDEX_KEY_SPECS_CONFLICT = 86
log = structlog.get_logger(__name__)

IndexDeclarations = Mapping[str, Sequence[IndexModel]]


async def ensure_indexes(db: Database, declarations: IndexDeclarations) -> None:
    for collection_name, models in declarations.items():
        collection = db.get_collection(collection_name)
        for model in models:
            try:
                await collection.create_indexes([model])
            except OperationFailure as error:
                ttl = model.document.get("expireAfterSeconds")
                if (
                    error.code not in (_INDEX_OPTIONS_CONFLICT, _INDEX_KEY_SPECS_CONFLICT)
                    or ttl is None
                ):
                    raise
                await db.command(
                    "collMod",
                    collection_name,
                    index={"name": model.document["name"], "expireAfterSeconds": ttl},
                )
                log.info(
                    "ttl index updated", collection=collection_name, index=model.document["name"]
                )
