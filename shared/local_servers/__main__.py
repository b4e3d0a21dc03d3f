"""`make infra` / `make run`: a private RabbitMQ and MongoDB-protocol server until interrupted,
and with `--services` every GiveCare service as its own process beside them.

Prints `RABBITMQ_URL=...` and `MONGODB_URL=...` and writes them to `<dir>/env` (shell-quoted,
so `set -a; . <dir>/env` works). With `--services` it also writes `<dir>/devtools.env`: the
development values it made up (tokens, the fake Twilio's address) that `givecare chat` and
`givecare stripe send` need to talk to this run. Both files are removed on a clean shutdown.

Whatever it starts ends when it ends, however it ends (`_lifecycle`); one run at a time holds
the directory, and `--stop` (`make stop`) ends a run of it and whatever a killed run left behind.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import logging
import shlex
import shutil
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from shared.local_servers import LocalMongo, LocalRabbitMQ, LocalServerError
from shared.local_servers._lifecycle import DirectoryBusyError, DirectoryLock, stop_run
from shared.local_servers.env_file import write_env_file
from shared.local_servers.services import (
    DEVTOOLS_ENV_FILE,
    DevelopmentSetup,
    ServiceSupervisor,
    development_setup,
)

log = logging.getLogger("shared.local_servers")
# What a run leaves for other shells and tools: the URLs, and `make run`'s made-up values.
ENV_FILES = ("env", DEVTOOLS_ENV_FILE)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m shared.local_servers",
        description="Run a private RabbitMQ node and a SecantusDB server until SIGINT/SIGTERM.",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(".local/infra"),
        help="state directory: data, logs, ports.json and the env file (default: .local/infra)",
    )
    parser.add_argument("--rabbitmq-port", type=int, default=None, help="AMQP port (default: free)")
    parser.add_argument("--mongodb-port", type=int, default=None, help="port (default: free)")
    parser.add_argument(
        "--management", action="store_true", help="enable the RabbitMQ management UI"
    )
    parser.add_argument(
        "--services", action="store_true", help="also run every service (what `make run` does)"
    )
    parser.add_argument(
        "--free-ports",
        action="store_true",
        help="run the services on free ports instead of 8000, 8010 and 9101-9104",
    )
    parser.add_argument(
        "--stop",
        action="store_true",
        help="stop the run using --dir, and end whatever a killed run of this checkout left "
        "running (what `make stop` does), then exit",
    )
    parser.add_argument("--log-level", default="INFO", help="log level of this launcher")
    return parser.parse_args(argv)


def _how_to_use(setup: DevelopmentSetup) -> list[str]:
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


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    base: Path = args.dir.resolve()
    if args.stop:
        lines = stop_run(base, str(args.dir)) or ["nothing of this checkout was left running"]
        if DirectoryLock(base, "").holder() is None:
            for name in ENV_FILES:
                (base / name).unlink(missing_ok=True)  # left by a run that was killed
        sys.stdout.write("".join(f"make stop: {line}\n" for line in lines))
        return 0
    owner = DirectoryLock(base, "make run" if args.services else "make infra", str(args.dir))
    try:
        sweep = owner.acquire()
    except DirectoryBusyError as exc:
        log.error("%s; stop it first (Ctrl-C where it runs, or make stop)", exc)
        return 1
    for record in sweep.ended:
        log.warning("ended %s, left running by an earlier run that is gone", record.describe())
    try:
        return _run(args, base)
    finally:
        owner.release()


def _run(args: argparse.Namespace, base: Path) -> int:
    """Start everything, wait for a signal or a process that died, stop everything."""
    env_file, devtools_env_file = (base / name for name in ENV_FILES)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    # SIGHUP: the terminal went away; stopping is what the person who started us would want.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, request_stop)

    rabbitmq = LocalRabbitMQ(base / "rabbitmq", port=args.rabbitmq_port, management=args.management)
    mongo = LocalMongo(base / "mongodb", port=args.mongodb_port)
    servers = (rabbitmq, mongo)
    supervisor: ServiceSupervisor | None = None
    status = 0
    try:
        # Start both at once: the broker's ~7 s boot hides the database's.
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            for started in [pool.submit(server.start) for server in servers]:
                started.result()
        urls = {"RABBITMQ_URL": rabbitmq.url, "MONGODB_URL": mongo.url}
        write_env_file(env_file, urls)
        lines = [f"{key}={shlex.quote(value)}" for key, value in urls.items()]
        if rabbitmq.management_url:
            lines.append(f"# management UI: {rabbitmq.management_url} (guest/guest)")
        lines.append(f"# env file: {env_file}; logs under {base}; Ctrl-C to stop")
        if args.services:
            setup = development_setup(urls, free_ports=args.free_ports)
            write_env_file(devtools_env_file, setup.made_up)
            supervisor = ServiceSupervisor(setup.env, setup.specs, state_dir=base)
            lines.extend(_how_to_use(setup))
        # The one place that talks to the terminal: `make infra` shows these lines.
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        if supervisor is not None:
            supervisor.start()
        while not stop.wait(1.0):
            for server in servers:
                if not server.is_running:
                    log.error("%s exited unexpectedly; see %s", server.kind, server.log_file)
                    status = 1
                    stop.set()
            if supervisor is not None and supervisor.exited():
                log.error("service(s) exited: %s", ", ".join(supervisor.exited()))
                status = 1
                stop.set()
    except LocalServerError as exc:
        log.error("%s", exc)
        status = 1
    finally:
        if supervisor is not None:
            supervisor.stop()
        env_file.unlink(missing_ok=True)
        devtools_env_file.unlink(missing_ok=True)
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            for closed in [pool.submit(server.close) for server in servers]:
                closed.result()
    return status


if __name__ == "__main__":
    sys.exit(main())
