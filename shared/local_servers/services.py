"""`make run`: every GiveCare service as its own process, beside the local servers.

Each service gets the broker and database URLs, an ops port of its own and development defaults
for what it would otherwise refuse to start without (a Twilio auth token so ingress can verify
the webhooks a local tool signs). Output lines are prefixed with the service's name. Stopping
sends SIGTERM to all, waits, and kills what is left.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO

log = logging.getLogger("shared.local_servers")


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    ops_port: int | None


SERVICES = (
    ServiceSpec("ingress", "services.ingress", None),
    ServiceSpec("sms-worker", "services.sms_worker", 9101),
    ServiceSpec("sms-sender", "services.sms_worker.outbound", 9104),
    ServiceSpec("billing", "services.billing_worker", 9102),
    ServiceSpec("scheduler", "services.scheduler", 9103),
)


def development_environment(urls: Mapping[str, str]) -> dict[str, str]:
    """The environment every service starts with: the caller's, then the local servers, then
    development defaults only where nothing was set (.env still applies inside each service)."""
    env = {**os.environ, **urls}
    env.setdefault("LOG_FORMAT", "console")
    env.setdefault("INGRESS_PORT", "8000")
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{env['INGRESS_PORT']}")
    env.setdefault("TWILIO_AUTH_TOKEN", f"dev-{secrets.token_hex(16)}")
    env.setdefault("TWILIO_STATUS_CALLBACK_URL", f"{env['PUBLIC_BASE_URL']}/webhooks/twilio/status")
    return env


def _relay_output(name: str, stream: IO[bytes]) -> None:
    prefix = f"[{name:>10}] ".encode()
    for line in iter(stream.readline, b""):
        sys.stdout.buffer.write(prefix + line)
        sys.stdout.buffer.flush()


class ServiceSupervisor:
    def __init__(self, env: Mapping[str, str], specs: tuple[ServiceSpec, ...] = SERVICES) -> None:
        self._env = dict(env)
        self._specs = specs
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        for spec in self._specs:
            env = dict(self._env)
            if spec.ops_port is not None:
                env["OPS_PORT"] = str(spec.ops_port)
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", spec.module],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            assert process.stdout is not None
            threading.Thread(
                target=_relay_output, args=(spec.name, process.stdout), daemon=True
            ).start()
            self._processes[spec.name] = process
            log.info("started %s (python -m %s, pid %s)", spec.name, spec.module, process.pid)

    def exited(self) -> list[str]:
        """Services that stopped on their own (a crash, or a refused configuration)."""
        return [name for name, p in self._processes.items() if p.poll() is not None]

    def stop(self, timeout: float = 15.0) -> None:
        for process in self._processes.values():
            if process.poll() is None:
                process.terminate()
        for name, process in self._processes.items():
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0f s; killing it", name, timeout)
                process.kill()
                process.wait()
