"""Start-up refuses a MongoDB without transactions, with a message that says how to fix it."""

from __future__ import annotations

from typing import Any, cast

import pytest

from shared.mongo import MongoClient, TransactionsUnavailable, require_transactions


class _Server:
    """Answers `hello` as a server of the given shape would (the only command asked)."""

    def __init__(self, hello: dict[str, Any]) -> None:
        self.admin = self
        self._hello = hello

    async def command(self, name: str) -> dict[str, Any]:
        assert name == "hello"
        return self._hello


@pytest.mark.parametrize(
    "hello",
    [{"isWritablePrimary": True, "setName": "rs0"}, {"isWritablePrimary": True, "msg": "isdbgrid"}],
    ids=["replica-set member", "mongos"],
)
async def test_a_replica_set_or_mongos_is_accepted(hello: dict[str, Any]) -> None:
    await require_transactions(cast(MongoClient, _Server(hello)))


async def test_a_standalone_server_is_refused_with_how_to_run_a_replica_set() -> None:
    with pytest.raises(TransactionsUnavailable) as refused:
        await require_transactions(cast(MongoClient, _Server({"isWritablePrimary": True})))
    message = str(refused.value)
    assert "--replSet" in message
    assert "rs.initiate()" in message
