"""A service as a real child process (`python -m ...`): started against the test's broker and
database, ready when its ops port says so, stopped with SIGTERM, its log kept for assertions."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from types import TracebackType
from typing import Self

import httpx

from shared.config import BrokerSettings
from shared.local_servers import free_port
from tests.support.waiting import eventually


def service_environment(
    broker_settings: BrokerSettings,
    mongodb_url: str,
    *,
    service: str,
    database: str,
    **extra: str,
) -> dict[str, str]:
    """The environment that points `service` at this test's exchange, queues and database."""
    return {
        **os.environ,
        "RABBITMQ_URL": broker_settings.url.get_secret_value(),
        "RABBITMQ_EXCHANGE": broker_settings.exchange,
        "RABBITMQ_QUEUE_PREFIX": broker_settings.queue_prefix,
        "MONGODB_URL": mongodb_url,
        f"MONGODB_DB_{service.upper()}": database,
        "LOG_FORMAT": "json",
        **extra,
    }


class ServiceProcess:
    """`async with ServiceProcess("services.x", env) as process:` — ready on entry; `stop()`
    sends SIGTERM and returns the log; leaving the block kills whatever still runs."""

    def __init__(self, module: str, env: dict[str, str], *, ready_timeout: float = 30) -> None:
        self.module = module
        self.ops_port = free_port()
        self._env = {**env, "OPS_PORT": str(self.ops_port)}
        self._ready_timeout = ready_timeout
        self._process: asyncio.subprocess.Process | None = None
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.ops_port}")
        self.output = b""

    @property
    def returncode(self) -> int | None:
        return self._process.returncode if self._process else None

    async def __aenter__(self) -> Self:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            self.module,
            env=self._env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )

        async def ready() -> bool:
            if self.returncode is not None:
                raise AssertionError(f"{self.module} exited with {self.returncode} while starting")
            try:
                return (await self.http.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        try:
            await eventually(ready, timeout=self._ready_timeout)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def stop(self) -> bytes:
        """SIGTERM, wait for a clean exit (bounded), and return everything the process logged."""
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)
        self.output, _ = await asyncio.wait_for(self._process.communicate(), 30)
        return self.output

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.http.aclose()
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            self.output, _ = await self._process.communicate()
