"""A private RabbitMQ node started from the distribution's rabbitmq-server, for tests and dev.

No Docker here, and the system broker is shared: each `LocalRabbitMQ` gets its own node name,
ports, epmd, Erlang cookie and data directory, listens on loopback only, and leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import time
from pathlib import Path

import aio_pika

from shared.local_servers._process import (
    LOOPBACK,
    LocalServer,
    LocalServerError,
    ManagedProcess,
    port_accepts,
)

DEFAULT_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
_EPMD_CANDIDATES = ("/usr/lib/erlang/bin/epmd", "/usr/bin/epmd")
# Variables the rabbitmq-server scripts or the Erlang VM read; a developer's own settings
# must not leak into the private node.
_INHERITED_PREFIXES = ("RABBITMQ_", "ERL_")
_LOOPBACK_DISTRIBUTION = "-kernel inet_dist_use_interface {127,0,0,1}"


def _find_epmd() -> str:
    found = shutil.which("epmd")
    if found:
        return found
    for candidate in _EPMD_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    raise LocalServerError("epmd not found; is Erlang (the rabbitmq-server package) installed?")


def _amqp_login(url: str, timeout: float) -> bool:
    """Whether a full AMQP connection handshake (including the login) succeeds."""

    async def attempt() -> None:
        connection = await aio_pika.connect(url, timeout=timeout)
        await connection.close()

    # A private event loop in a worker thread, so this also works under a running loop.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        try:
            pool.submit(asyncio.run, attempt()).result(timeout=timeout + 1)
        except Exception:
            return False
    return True


class LocalRabbitMQ(LocalServer):
    """A private RabbitMQ node (about 7 s to start), reachable at `url` as guest/guest.

    Ports are picked free (or remembered from the last run in the same `base_dir`), and the node
    is called `givecare-<amqp port>@localhost`. `management=True` enables the management plugin
    on `management_port` (loopback only).
    """

    kind = "rabbitmq"

    def __init__(
        self,
        base_dir: Path | str | None = None,
        *,
        port: int | None = None,
        management: bool = False,
        management_port: int | None = None,
        server: Path | str = DEFAULT_SERVER,
        startup_timeout: float = 60.0,
        stop_timeout: float = 30.0,
    ) -> None:
        super().__init__(base_dir, startup_timeout=startup_timeout, stop_timeout=stop_timeout)
        self.server = Path(server)
        self.port = self._ports.claim("amqp", port)
        self.dist_port = self._ports.claim("dist")
        self.epmd_port = self._ports.claim("epmd")
        self.management = management
        self.management_port: int | None = (
            self._ports.claim("management", management_port) if management else None
        )
        self.node_name = f"givecare-{self.port}@localhost"
        log_dir = self.base_dir / "log"
        self._node = ManagedProcess("rabbitmq-server", log_dir / "node.log", self.base_dir)
        self._epmd = ManagedProcess("epmd", log_dir / "epmd.log", self.base_dir)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{LOOPBACK}:{self.port}/"

    @property
    def management_url(self) -> str | None:
        if self.management_port is None:
            return None
        return f"http://{LOOPBACK}:{self.management_port}/"

    @property
    def _main(self) -> ManagedProcess:
        return self._node

    @property
    def _pid_file(self) -> Path:
        return self.base_dir / "node.pid"

    @property
    def _listen_ports(self) -> dict[str, int]:
        ports = {"amqp": self.port, "distribution": self.dist_port, "epmd": self.epmd_port}
        if self.management_port is not None:
            ports["management"] = self.management_port
        return ports

    @property
    def pids(self) -> dict[str, int | None]:
        """Leader pids of the node and of its private epmd (for diagnostics and tests)."""
        return {"rabbitmq-server": self._node.pid, "epmd": self._epmd.pid}

    def _write_config(self) -> dict[str, Path]:
        base = self.base_dir
        paths = {
            "home": base / "home",
            "mnesia": base / "mnesia",
            "log": base / "log",
            "config": base / "rabbitmq.conf",
            "plugins": base / "enabled_plugins",
            "env": base / "rabbitmq-env.conf",
        }
        for key in ("home", "mnesia", "log"):
            paths[key].mkdir(parents=True, exist_ok=True)
        lines = [
            f"listeners.tcp.default = {LOOPBACK}:{self.port}",
            "loopback_users.guest = true",
            "log.console = true",
            "log.console.level = info",
            "log.file = false",
        ]
        if self.management_port is not None:
            lines += [
                f"management.tcp.port = {self.management_port}",
                f"management.tcp.ip = {LOOPBACK}",
            ]
        paths["config"].write_text("\n".join(lines) + "\n")
        plugins = "[rabbitmq_management]." if self.management else "[]."
        paths["plugins"].write_text(plugins + "\n")
        # An empty env file replaces /etc/rabbitmq/rabbitmq-env.conf.
        paths["env"].write_text("# generated by shared.local_servers; intentionally empty\n")
        return paths

    def _environment(self, paths: dict[str, Path]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_PREFIXES)}
        env.update(
            {
                "HOME": str(paths["home"]),  # the Erlang cookie lands here: private
                "RABBITMQ_CONF_ENV_FILE": str(paths["env"]),
                "RABBITMQ_CONFIG_FILE": str(paths["config"]),
                "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.base_dir / "advanced.config"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(paths["plugins"]),
                "RABBITMQ_NODENAME": self.node_name,
                "RABBITMQ_DIST_PORT": str(self.dist_port),
                "RABBITMQ_MNESIA_BASE": str(paths["mnesia"]),
                "RABBITMQ_LOG_BASE": str(paths["log"]),
                "RABBITMQ_LOGS": "-",
                "RABBITMQ_PID_FILE": str(self._pid_file),
                # Distribution on loopback only, registered with our own epmd.
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": _LOOPBACK_DISTRIBUTION,
                "ERL_EPMD_PORT": str(self.epmd_port),
                "ERL_EPMD_ADDRESS": LOOPBACK,
            }
        )
        return env

    def _spawn(self) -> None:
        if not os.access(self.server, os.X_OK):
            raise LocalServerError(f"{self.server} is not executable; install rabbitmq-server")
        paths = self._write_config()
        env = self._environment(paths)
        # We hold the directory, so a pid file here names a node of a run that is gone.
        self._pid_file.unlink(missing_ok=True)
        # Our own foreground epmd, so the VM does not daemonize one that would outlive the node.
        self._epmd.spawn(
            [_find_epmd(), "-port", str(self.epmd_port), "-address", LOOPBACK],
            env=env,
            cwd=self.base_dir,
        )
        for _ in range(50):
            if port_accepts(self.epmd_port, timeout=0.2):
                break
            if not self._epmd.running:
                raise LocalServerError(
                    f"epmd {self._epmd.exit_status()} on port {self.epmd_port}:\n"
                    f"{self._epmd.log_tail()}"
                )
            time.sleep(0.05)
        else:
            raise LocalServerError(f"epmd did not listen on port {self.epmd_port}")
        self._node.spawn([str(self.server)], env=env, cwd=self.base_dir)

    def _probe(self) -> bool:
        # The listener opens at the very end of boot; skip the AMQP client until then.
        return port_accepts(self.port) and _amqp_login(self.url, timeout=5.0)

    def _terminate(self, timeout: float) -> None:
        # rabbitmq-server traps SIGTERM and stops the node gracefully (about 2 s).
        self._node.terminate(timeout)
        self._epmd.terminate(5.0)

    def kill(self) -> None:
        self._node.kill()
        self._epmd.kill()
