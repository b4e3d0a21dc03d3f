"""The test infrastructure itself: the session's servers work, and the local ones restart on disk.

Whatever path `tests/support/servers.py` took (env, testcontainers, local), the broker and the
database must behave like the real thing the services rely on: queues, replica-set transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from pymongo import AsyncMongoClient, MongoClient

from shared.local_servers import LocalMongo, LocalRabbitMQ
from shared.local_servers._process import port_accepts

pytestmark = pytest.mark.integration

Doc = dict[str, Any]


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- the session's servers ----------------------------------------------------------------------


async def test_broker_queue_publish_and_get(rabbitmq_url: str) -> None:
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(f"test.{uuid.uuid4().hex}", exclusive=True)
        await channel.default_exchange.publish(
            aio_pika.Message(b"hello", message_id="m-1"), routing_key=queue.name
        )
        message = await queue.get(timeout=5, fail=True)
        assert message is not None
        await message.ack()
        assert message.body == b"hello"
        assert message.message_id == "m-1"


async def test_mongo_insert_and_find(mongodb_url: str, mongo_db_name: str) -> None:
    client: AsyncMongoClient[Doc] = AsyncMongoClient(mongodb_url)
    try:
        collection = client[mongo_db_name]["things"]
        await collection.insert_one({"_id": "a", "n": 1})
        assert await collection.find_one({"_id": "a"}) == {"_id": "a", "n": 1}
    finally:
        await client.drop_database(mongo_db_name)
        await client.close()


async def test_mongo_is_a_replica_set_with_committing_transactions(
    mongodb_url: str, mongo_db_name: str
) -> None:
    client: AsyncMongoClient[Doc] = AsyncMongoClient(mongodb_url)
    try:
        hello = await client.admin.command("hello")
        assert hello.get("setName"), hello
        assert hello["isWritablePrimary"] is True

        db = client[mongo_db_name]
        # Collections must exist before a transaction writes to them on older servers.
        await db.create_collection("inbox")
        await db.create_collection("outbox")
        async with client.start_session() as session, await session.start_transaction():
            await db["inbox"].insert_one({"_id": "e-1"}, session=session)
            await db["outbox"].insert_one({"_id": "o-1"}, session=session)

        async with client.start_session() as session:
            await session.start_transaction()
            await db["inbox"].insert_one({"_id": "e-2"}, session=session)
            await session.abort_transaction()

        assert [d["_id"] async for d in db["inbox"].find()] == ["e-1"]
        assert [d["_id"] async for d in db["outbox"].find()] == ["o-1"]
    finally:
        await client.drop_database(mongo_db_name)
        await client.close()


# -- the local servers' own life cycle ----------------------------------------------------------


def test_local_mongo_keeps_its_data_across_a_restart(tmp_path: Path) -> None:
    with LocalMongo(tmp_path) as server, MongoClient[Doc](server.url) as client:
        url, pid = server.url, server.pid
        client["survivor"]["docs"].insert_one({"_id": "kept", "v": 42})

        # The client stays connected: the server closes its sockets first, as in a crash test.
        server.stop()
        assert not server.is_running
        assert not _alive(pid)
        assert not port_accepts(server.port)

        server.start()
        assert server.url == url  # same port, despite the old connections in TIME_WAIT
        assert client["survivor"]["docs"].find_one({"_id": "kept"}) == {"_id": "kept", "v": 42}
    assert not server.is_running
    assert (tmp_path / "data").is_dir()  # a caller's base_dir is never deleted


def test_local_mongo_temporary_dir_is_removed_on_close() -> None:
    server = LocalMongo().start()
    base_dir = server.base_dir
    assert base_dir.is_dir()
    server.close()
    assert not base_dir.exists()


async def test_local_rabbitmq_keeps_a_persistent_message_across_a_restart(tmp_path: Path) -> None:
    # Two node boots (~7 s each); run off the event loop, which the session shares.
    server = LocalRabbitMQ(tmp_path)
    try:
        await asyncio.to_thread(server.start)
        url, pids = server.url, server.pids
        connection = await aio_pika.connect(url)
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue("survivor", durable=True)
        await channel.default_exchange.publish(
            aio_pika.Message(b"kept", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key="survivor",
        )

        # Still connected: the node closes the connection itself, as it would in a crash test.
        await asyncio.to_thread(server.stop)
        with contextlib.suppress(Exception):
            await connection.close()
        assert not any(_alive(pid) for pid in pids.values()), pids  # the node and its epmd
        assert not port_accepts(server.port)
        assert not port_accepts(server.epmd_port)

        await asyncio.to_thread(server.start)
        assert server.url == url
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue("survivor", durable=True, passive=True)
            message = await queue.get(timeout=5, fail=True)
            assert message is not None
            assert message.body == b"kept"
            await message.ack()
    finally:
        await asyncio.to_thread(server.close)
    assert not any(_alive(pid) for pid in server.pids.values())
