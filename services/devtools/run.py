"""`make run`: the local servers (`shared.local_servers`) and every GiveCare service beside them,
as separate processes with prefixed logs, until interrupted.

Besides the servers' `<dir>/env` it writes `<dir>/devtools.env`: the development values it made
up (tokens, the fake Twilio's address) that `givecare chat` and `givecare stripe send` need to
talk to this run. Both are removed on a clean shutdown; `make stop` ends a run of the directory
and whatever a killed one left behind.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from services.devtools.local_prometheus import PROMETHEUS_PORT, prometheus_spec
from services.devtools.system import (
    DEVTOOLS_ENV_FILE,
    DevelopmentSetup,
    ServiceSupervisor,
    development_setup,
)
from shared.local_servers.__main__ import main as run_servers
from shared.local_servers._process import free_port
from shared.local_servers.env_file import write_env_file


def how_to_use(setup: DevelopmentSetup) -> list[str]:
    """Where things are and how to talk to them, for the person who typed `make run`."""
    uv = shutil.which("uv")
    givecare = "uv run --frozen givecare" if uv else str(Path(sys.executable).parent / "givecare")
    if setup.fake_twilio_url is None:
        outbound = "outbound SMS: real Twilio (credentials are set); replies reach real phones"
    else:
        outbound = (
            f"outbound SMS: the fake Twilio at {setup.fake_twilio_url} "
            "(no TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN set), nothing leaves this machine"
        )
    ops_ports = ", ".join(str(spec.ops_port) for spec in setup.specs if spec.ops_port)
    return [
        f"# ingress: {setup.ingress_url} (webhooks, /docs); workers' ops ports {ops_ports}",
        f"# {outbound}",
        f"# chat as a caregiver (another terminal): {givecare} chat --phone +15551234567",
        f"# a signed Stripe test event: {givecare} stripe send checkout.session.completed "
        "--phone +15551234567",
    ]


class Services:
    """Every service as its own process, started once the servers answer."""

    env_files: tuple[str, ...] = (DEVTOOLS_ENV_FILE,)

    def __init__(self, *, prometheus: bool = False) -> None:
        self._supervisor: ServiceSupervisor | None = None
        self._prometheus = prometheus

    def start(self, urls: Mapping[str, str], base: Path, *, free_ports: bool) -> list[str]:
        setup = development_setup(urls, free_ports=free_ports)
        write_env_file(base / DEVTOOLS_ENV_FILE, setup.made_up)
        specs = setup.specs
        lines = how_to_use(setup)
        if self._prometheus:
            port = free_port() if free_ports else PROMETHEUS_PORT
            specs = (*specs, prometheus_spec(setup, base, port))
            lines.append(f"# Prometheus (graphs, the alert rules): http://127.0.0.1:{port}")
        self._supervisor = ServiceSupervisor(setup.env, specs, state_dir=base)
        self._supervisor.start()
        return lines

    def exited(self) -> list[str]:
        return self._supervisor.exited() if self._supervisor is not None else []

    def stop(self) -> None:
        if self._supervisor is not None:
            self._supervisor.stop()


def main(argv: list[str] | None = None) -> int:
    # `make run PROMETHEUS=1` sets it; the launcher's own arguments stay those of local_servers.
    prometheus = os.environ.get("GIVECARE_PROMETHEUS", "") not in ("", "0", "false")
    return run_servers(
        argv,
        extension=Services(prometheus=prometheus),
        prog="python -m services.devtools.run",
        name="make run",
    )


if __name__ == "__main__":
    sys.exit(main())
