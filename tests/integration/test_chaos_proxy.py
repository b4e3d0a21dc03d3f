"""The fault-injecting TCP proxy itself, and that the real clients recover through it: an AMQP
robust connection and a MongoDB client both come back after every connection is cut."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aio_pika
import aiormq
import pytest
from pymongo import AsyncMongoClient

from tests.support.chaos_proxy import LOOPBACK, ChaosProxy, through
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def _echo_server() -> AsyncIterator[int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(1024):
                writer.write(data)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, LOOPBACK, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_bytes_pass_unchanged_also_with_latency() -> None:
    async with _echo_server() as port, ChaosProxy(port) as proxy:
        reader, writer = await asyncio.open_connection(LOOPBACK, proxy.port)
        for latency in (0.0, 0.02):
            proxy.latency = latency
            writer.write(b"x" * 100_000)
            await writer.drain()
            assert await reader.readexactly(100_000) == b"x" * 100_000
        writer.close()


async def test_cut_resets_open_connections_and_outage_refuses_new_ones() -> None:
    async with _echo_server() as port, ChaosProxy(port) as proxy:
        reader, writer = await asyncio.open_connection(LOOPBACK, proxy.port)
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"ping"
        assert await proxy.cut() == 2  # both sides of the one connection
        assert await reader.read() == b""
        async with proxy.outage():
            refused_reader, _ = await asyncio.open_connection(LOOPBACK, proxy.port)
            assert await refused_reader.read() == b""
        reader, writer = await asyncio.open_connection(LOOPBACK, proxy.port)
        writer.write(b"back")
        assert await reader.readexactly(4) == b"back"
        writer.close()


async def test_a_robust_amqp_connection_recovers_after_a_cut(rabbitmq_url: str) -> None:
    port = urlsplit(rabbitmq_url).port
    assert port is not None
    async with ChaosProxy(port) as proxy:
        connection = await aio_pika.connect_robust(
            through(rabbitmq_url, proxy.port), reconnect_interval=0.2
        )
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(exclusive=True)
            await proxy.cut()

            async def published() -> bool:
                try:
                    await channel.default_exchange.publish(
                        aio_pika.Message(b"after the cut"), routing_key=queue.name
                    )
                except (
                    aio_pika.exceptions.AMQPError,
                    aiormq.exceptions.AMQPError,
                    aiormq.exceptions.ChannelInvalidStateError,
                ):
                    return False  # the channel is not back yet
                return True

            await eventually(published, timeout=30, interval=0.2)
            assert proxy.connections_accepted >= 2
        finally:
            await connection.close()


async def test_a_mongodb_client_recovers_after_a_cut(mongodb_url: str) -> None:
    port = urlsplit(mongodb_url).port
    assert port is not None
    async with ChaosProxy(port) as proxy:
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            through(mongodb_url, proxy.port), serverSelectionTimeoutMS=5_000
        )
        try:
            await client.admin.command("ping")
            await proxy.cut()

            async def pinged() -> bool:
                try:
                    await client.admin.command("ping")
                except Exception:
                    return False
                return True

            await eventually(pinged, timeout=30, interval=0.2)
        finally:
            await client.close()
