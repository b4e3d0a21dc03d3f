"""`make run`: every GiveCare service as its own process, beside the local servers.

Each service gets the broker and database URLs, an ops port of its own and development defaults
for what it would otherwise refuse to start without (a Twilio auth token so ingress can verify
the webhooks a local tool signs, a Stripe webhook secret). Without Twilio credentials a fake
Twilio REST API runs as one more process on port 8010 and the sender is pointed at it, so a
reply takes the whole path a real one does. Output lines are prefixed with the process's name,
coloured in a terminal. Stopping sends SIGTERM to all, waits, and kills what is left; each runs
in a session of its own and ends with the supervisor however it ends (`_process.spawn`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from services.ingress.settings import IngressSettings, WebhookSettings
from shared.config import StripeSettings, TwilioSettings, load_settings
from shared.local_servers._lifecycle import Record, forget
from shared.local_servers._process import free_port, spawn

log = logging.getLogger("shared.local_servers")

FAKE_TWILIO_PORT = 8010
# Made up for the fake; Twilio's own test "From" number, never a real phone.
DEV_TWILIO_ACCOUNT_SID = "AC" + "0" * 32
DEV_FROM_NUMBER = "+15005550006"
# Where `make run` leaves the values it made up, for `givecare chat` and `givecare stripe send`.
DEVTOOLS_ENV_FILE = "devtools.env"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    ops_port: int | None
    args: tuple[str, ...] = ()
    # A program that is not a Python module of ours (`make run PROMETHEUS=1`'s Prometheus).
    command: tuple[str, ...] | None = None


SERVICES = (
    ServiceSpec("ingress", "services.ingress", None),
    ServiceSpec("sms-worker", "services.sms_worker", 9101),
    ServiceSpec("sms-sender", "services.sms_sender", 9104),
    ServiceSpec("billing", "services.billing_worker", 9102),
    ServiceSpec("scheduler", "services.scheduler", 9103),
)


def _fake_twilio(port: int) -> ServiceSpec:
    """Reporting `sent`, then `delivered`, to the status callback a second apart, as Twilio
    would."""
    return ServiceSpec(
        "twilio-fake",
        "services.devtools.fake_twilio",
        None,
        ("--port", str(port), "--deliver-after", "1"),
    )


FAKE_TWILIO = _fake_twilio(FAKE_TWILIO_PORT)


@dataclass(frozen=True)
class DevelopmentSetup:
    """What `make run` starts its processes with."""

    env: dict[str, str]
    # The values invented here rather than configured (development tokens, the fake Twilio):
    # the services get them in `env`; the command-line tools read them from DEVTOOLS_ENV_FILE.
    made_up: dict[str, str]
    ingress_url: str
    fake_twilio_url: str | None
    # The fake Twilio first, so it listens before the sender's first call.
    specs: tuple[ServiceSpec, ...] = SERVICES
    ingress_port: int = 8000


def development_setup(urls: Mapping[str, str], *, free_ports: bool = False) -> DevelopmentSetup:
    """The caller's environment, then the local servers, then development defaults only where
    the services would find nothing — in the environment or in `.env`, which they also read.

    `free_ports` puts every process on a port nobody uses instead of the fixed ones (8000, 8010,
    9101-9104), so a second run (a test's) can run beside a developer's.
    """
    env = {**os.environ, **urls}
    env.setdefault("LOG_FORMAT", "console")
    ingress = load_settings(IngressSettings)
    webhooks = load_settings(WebhookSettings)
    twilio = load_settings(TwilioSettings)
    stripe = load_settings(StripeSettings)
    made_up: dict[str, str] = {}
    ingress_port, fake_twilio_port = ingress.port, FAKE_TWILIO_PORT
    if free_ports:
        ingress_port, fake_twilio_port = free_port(), free_port()
        env["INGRESS_PORT"] = str(ingress_port)
    ingress_url = webhooks.public_base_url or f"http://127.0.0.1:{ingress_port}"
    if not webhooks.public_base_url:
        made_up["PUBLIC_BASE_URL"] = ingress_url
    token = twilio.auth_token.get_secret_value() if twilio.auth_token else None
    if not token:
        made_up["TWILIO_AUTH_TOKEN"] = token = f"dev-{secrets.token_hex(16)}"
    fake_twilio_url = None
    if not twilio.configured:
        fake_twilio_url = f"http://127.0.0.1:{fake_twilio_port}"
        made_up["TWILIO_API_BASE_URL"] = fake_twilio_url
        if not twilio.account_sid:
            made_up["TWILIO_ACCOUNT_SID"] = DEV_TWILIO_ACCOUNT_SID
        if not (twilio.from_number or twilio.messaging_service_sid):
            made_up["TWILIO_FROM_NUMBER"] = DEV_FROM_NUMBER
        # The fake reads its credentials from its environment only, not from `.env`.
        env["TWILIO_ACCOUNT_SID"] = twilio.account_sid or DEV_TWILIO_ACCOUNT_SID
        env["TWILIO_AUTH_TOKEN"] = token
    if not twilio.status_callback_url:
        made_up["TWILIO_STATUS_CALLBACK_URL"] = f"{ingress_url}/webhooks/twilio/status"
    if not stripe.webhook_secret_list:
        made_up["STRIPE_WEBHOOK_SECRET"] = f"whsec_dev_{secrets.token_hex(16)}"
    env.update(made_up)
    specs: tuple[ServiceSpec, ...] = SERVICES
    if free_ports:
        specs = tuple(
            dataclasses.replace(spec, ops_port=free_port()) if spec.ops_port else spec
            for spec in specs
        )
    if fake_twilio_url is not None:
        specs = (_fake_twilio(fake_twilio_port), *specs)
    return DevelopmentSetup(env, made_up, ingress_url, fake_twilio_url, specs, ingress_port)


# One colour per process in a terminal (cyan, green, yellow, magenta, blue, red); none when the
# output is a file or a pipe, or NO_COLOR is set (https://no-color.org).
_COLOURS = (36, 32, 33, 35, 34, 31)


def line_prefix(name: str, index: int, *, colour: bool) -> bytes:
    """`[   name] ` for the lines of the `index`-th process, coloured for a terminal."""
    label = f"[{name:>11}] "
    if colour:
        label = f"\x1b[{_COLOURS[index % len(_COLOURS)]}m{label}\x1b[0m"
    return label.encode()


def _colour_wanted() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _relay_output(prefix: bytes, stream: IO[bytes]) -> None:
    for line in iter(stream.readline, b""):
        sys.stdout.buffer.write(prefix + line)
        sys.stdout.buffer.flush()


class ServiceSupervisor:
    """The services as child processes, recorded under `state_dir` (the next `make run` there,
    and `make stop`, end what a killed supervisor left running)."""

    def __init__(
        self,
        env: Mapping[str, str],
        specs: tuple[ServiceSpec, ...] = SERVICES,
        *,
        state_dir: Path | None = None,
    ) -> None:
        self._env = dict(env)
        self._specs = specs
        self._state_dir = state_dir
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._records: list[Record | None] = []

    @property
    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self._processes.items()}

    def start(self) -> None:
        colour = _colour_wanted()
        for index, spec in enumerate(self._specs):
            env = dict(self._env)
            if spec.ops_port is not None:
                env["OPS_PORT"] = str(spec.ops_port)
            argv = list(spec.command) if spec.command else [sys.executable, "-m", spec.module]
            process, record = spawn(
                [*argv, *spec.args],
                name=spec.name,
                directory=self._state_dir,
                env=env,
                stdout=subprocess.PIPE,
            )
            self._records.append(record)
            assert process.stdout is not None
            threading.Thread(
                target=_relay_output,
                args=(line_prefix(spec.name, index, colour=colour), process.stdout),
                daemon=True,
            ).start()
            self._processes[spec.name] = process
            log.info("started %s (%s, pid %s)", spec.name, " ".join(argv[-2:]), process.pid)

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
        for record in self._records:
            forget(record)
        self._records = []
