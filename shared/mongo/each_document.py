"""Updates of several documents as one command of single-document updates, never a multi-update.

SecantusDB (the embedded default server) runs a multi-document update outside a transaction
(`update_many`, `UpdateMany`) holding the collection's lock across its write-conflict retries. If
one of its documents has an uncommitted write in a transaction, it waits holding that lock; a
statement of another transaction on the collection then waits for the lock holding its own
transaction's mutex, the server's transaction reaper waits for that mutex holding the registry
lock, and the first transaction can no longer commit or abort: the whole server stops (seen in
the fault tests, with a transaction left open by a killed service or a cut connection). A
single-document update retries with the lock released, so the same writes sent as one
`bulk_write` of `UpdateOne`s (still one command, one round trip) cannot wedge it.

So outside a transaction, a write to several documents of a collection that transactions also
write goes through `each_document`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pymongo import UpdateOne

from shared.mongo.client import Document


def each_document(
    ids: Iterable[Any], query: Document, update: Document | list[Document]
) -> list[UpdateOne]:
    """`update` of each document whose `_id` is in `ids` and that also matches `query` (ids
    repeated are written once), for one `bulk_write`."""
    return [UpdateOne({**query, "_id": row_id}, update) for row_id in dict.fromkeys(ids)]
