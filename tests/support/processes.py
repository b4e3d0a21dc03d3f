"""A service as a real child process (`python -m ...`): started against the test's broker and
database, ready when its ops port says so, stopped with SIGTERM (or killed with SIGKILL, as a
crash), its log collected as it is written and kept for assertions."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from types import TracebackType
from typing import Self

import httpx

from services.devtools.system import SERVICES
from shared.config import BrokerSettings
from shared.local_servers import free_port
from tests.support.waiting import eventually


def _platform_environment(broker_settings: BrokerSettings, mongodb_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "RABBITMQ_URL": broker_settings.url.get_secret_value(),
        "RABBITMQ_EXCHANGE": broker_settings.exchange,
        "RABBITMQ_QUEUE_PREFIX": broker_settings.queue_prefix,
        "MONGODB_URL": mongodb_url,
        "LOG_FORMAT": "json",
    }


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
        **_platform_environment(broker_settings, mongodb_url),
        f"MONGODB_DB_{service.upper()}": database,
        **extra,
    }


def system_environment(
    broker_settings: BrokerSettings, mongodb_url: str, *, db_prefix: str, **extra: str
) -> dict[str, str]:
    """The environment for every service at once: one exchange and queue prefix, and the
    databases `<db_prefix>_<service>`, none of which another test uses."""
    return {
        **_platform_environment(broker_settings, mongodb_url),
        "MONGODB_DB_PREFIX": db_prefix,
        **extra,
    }


class ServiceProcess:
    """`async with ServiceProcess("services.x", env) as process:` — ready on entry; `stop()`
    sends SIGTERM and returns the log, `kill()` is a crash; leaving the block kills whatever
    still runs. The process serves `/readyz` on the port named by `port_variable` (ingress
    serves it on `INGRESS_PORT`)."""

    def __init__(
        self,
        module: str,
        env: dict[str, str],
        *,
        ready_timeout: float = 30,
        port_variable: str = "OPS_PORT",
        port: int | None = None,
    ) -> None:
        self.module = module
        # A restarted process may take its predecessor's port, as a redeployed pod keeps its
        # service address.
        self.ops_port = port or free_port()
        self._env = {**env, port_variable: str(self.ops_port)}
        self._ready_timeout = ready_timeout
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._chunks: list[bytes] = []
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.ops_port}")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def returncode(self) -> int | None:
        return self._process.returncode if self._process else None

    @property
    def output(self) -> bytes:
        """Everything the process logged so far (read continuously, so a chatty process never
        blocks on a full pipe)."""
        return b"".join(self._chunks)

    async def __aenter__(self) -> Self:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            self.module,
            env=self._env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert self._process.stdout is not None
        self._reader = asyncio.create_task(self._collect(self._process.stdout))

        async def ready() -> bool:
            if self.returncode is not None:
                raise AssertionError(
                    f"{self.module} exited with {self.returncode} while starting:\n"
                    + self.output.decode(errors="replace")[-2_000:]
                )
            try:
                return (await self.http.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        try:
            await eventually(ready, timeout=self._ready_timeout)
        except AssertionError as error:
            await self.__aexit__(None, None, None)
            raise AssertionError(
                f"{self.module} not ready: {error}\n"
                + self.output.decode(errors="replace")[-2_000:]
            ) from None
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _collect(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65_536):
            self._chunks.append(chunk)

    async def _ended(self) -> bytes:
        assert self._process is not None
        await asyncio.wait_for(self._process.wait(), 30)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 30)
        return self.output

    async def stop(self) -> bytes:
        """SIGTERM, wait for a clean exit (bounded), and return everything the process logged."""
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)
        return await self._ended()

    async def kill(self) -> bytes:
        """SIGKILL: the process dies wherever it is, as in a crash; returns its log."""
        assert self._process is not None
        self._process.kill()
        return await self._ended()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.http.aclose()
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._ended()


def service_process(
    name: str, env: dict[str, str], *, ready_timeout: float = 30, port: int | None = None
) -> ServiceProcess:
    """The service `make run` calls `name` (`services.devtools.system.SERVICES`) as a
    `ServiceProcess`; ingress serves `/readyz` on its own port, the workers on `OPS_PORT`."""
    (spec,) = [spec for spec in SERVICES if spec.name == name]
    port_variable = "INGRESS_PORT" if spec.ops_port is None else "OPS_PORT"
    return ServiceProcess(
        spec.module, env, port_variable=port_variable, ready_timeout=ready_timeout, port=port
    )
