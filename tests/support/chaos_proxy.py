"""A TCP proxy on 127.0.0.1 for fault tests: put it between the services and the broker or the
database, then add latency, cut every open connection, or refuse new ones, while traffic flows.

Faults act at the connection level, as a flaky network or a restarted load balancer would: the
bytes that do arrive are never altered, so the protocols' own recovery (AMQP heartbeats and
reconnects, MongoDB server selection and retryable operations) is what gets tested.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit, urlunsplit

LOOPBACK = "127.0.0.1"
_CHUNK = 64 * 1024


def through(url: str, port: int) -> str:
    """`url` (amqp:// or mongodb://) pointed at a proxy on loopback `port`, credentials kept."""
    parts = urlsplit(url)
    credentials, _, _ = parts.netloc.rpartition("@")
    netloc = f"{credentials}@{LOOPBACK}:{port}" if credentials else f"{LOOPBACK}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


class ChaosProxy:
    def __init__(self, upstream_port: int, *, upstream_host: str = LOOPBACK) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.latency = 0.0
        self.refusing = False
        self.connections_accepted = 0
        self.connections_cut = 0

    @property
    def port(self) -> int:
        assert self._server is not None, "proxy not started"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self, port: int = 0) -> Self:
        self._server = await asyncio.start_server(self._accept, LOOPBACK, port)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self.cut()
            await self._server.wait_closed()
            self._server = None

    async def cut(self) -> int:
        """Close every open connection (both sides see a reset); returns how many were open."""
        writers = list(self._writers)
        for writer in writers:
            writer.transport.abort()
        self.connections_cut += len(writers)
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        return len(writers)

    @contextlib.asynccontextmanager
    async def outage(self) -> AsyncIterator[Self]:
        """Refuse new connections and cut the open ones for the duration of the block."""
        self.refusing = True
        await self.cut()
        try:
            yield self
        finally:
            self.refusing = False

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.transport.abort()
            return
        self.connections_accepted += 1
        self._writers.update((writer, upstream_writer))
        pipes = [
            asyncio.create_task(self._pipe(reader, upstream_writer)),
            asyncio.create_task(self._pipe(upstream_reader, writer)),
        ]
        self._pipes.update(pipes)
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pipes:
                task.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            self._pipes.difference_update(pipes)
            for side in (writer, upstream_writer):
                self._writers.discard(side)
                side.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while chunk := await reader.read(_CHUNK):
                if self.latency:
                    await asyncio.sleep(self.latency)
                writer.write(chunk)
                await writer.drain()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
