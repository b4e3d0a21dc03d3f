"""The services' client survives a server that drops idle connections.

SecantusDB closes a connection idle for 300 s (proxies and load balancers do the same); with
`retryWrites=false` the next write on that pooled connection failed with "connection closed"
(the 60-day scheduler simulation lost a relay update that way in CI). `create_client` retires
pooled connections idle longer than `MONGODB_MAX_IDLE_TIME_MS` before using them. Here the
server's idle timeout is one second, so the test takes seconds, not minutes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo.errors import AutoReconnect
from secantus.server import SecantusDBServer

from services.devtools.loopback import LOOPBACK
from shared.config import MongoSettings
from shared.mongo import MongoClient, create_client

pytestmark = pytest.mark.integration

SERVER_IDLE_TIMEOUT_S = 1.0
CONCURRENT_WRITES = 20


@pytest.fixture
def impatient_server_url(tmp_path: Path) -> Iterator[str]:
    """A SecantusDB server that hangs up on connections idle for a second."""
    server = SecantusDBServer(
        host=LOOPBACK,
        port=0,
        storage_path=str(tmp_path / "data"),
        client_idle_timeout_s=SERVER_IDLE_TIMEOUT_S,
    )
    server.start()
    try:
        yield f"mongodb://{LOOPBACK}:{server.port}/?directConnection=true&retryWrites=false"
    finally:
        server.stop()


async def _writes_after_idling(client: MongoClient) -> None:
    """Fill the pool with concurrent writes, idle past the server's timeout, write again."""
    things = client["pool"]["things"]
    await asyncio.gather(*(things.insert_one({"n": n}) for n in range(CONCURRENT_WRITES)))
    await asyncio.sleep(SERVER_IDLE_TIMEOUT_S * 2.5)
    await asyncio.gather(
        *(things.update_one({"n": n}, {"$set": {"seen": True}}) for n in range(CONCURRENT_WRITES))
    )


async def test_writes_after_an_idle_spell_use_fresh_connections(impatient_server_url: str) -> None:
    client = create_client(MongoSettings(url=impatient_server_url, max_idle_time_ms=1_000))
    try:
        await _writes_after_idling(client)
        seen = await client["pool"]["things"].count_documents({"seen": True})
    finally:
        await client.close()
    assert seen == CONCURRENT_WRITES


async def test_without_the_idle_limit_the_dropped_connections_fail(
    impatient_server_url: str,
) -> None:
    """The premise: a pool that keeps idle connections longer than the server does breaks."""
    client = create_client(MongoSettings(url=impatient_server_url, max_idle_time_ms=600_000))
    try:
        with pytest.raises(AutoReconnect, match="connection closed"):
            await _writes_after_idling(client)
    finally:
        await client.close()
