"""`make infra`: a private RabbitMQ and MongoDB-protocol server until interrupted.

Prints `RABBITMQ_URL=...` and `MONGODB_URL=...` and writes them to `<dir>/env` (shell-quoted,
so `set -a; . <dir>/env` works); the file is removed on a clean shutdown. `make run`
(`services.devtools.run`) is this same launcher with an extension that starts every GiveCare
service beside the servers; the platform knows nothing of the services themselves.

Whatever it starts ends when it ends, however it ends (`_lifecycle`); one run at a time holds
the directory, and `--stop` (`make stop`) ends a run of it and whatever a killed run left behind.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import logging
import shlex
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Protocol

from shared.local_servers import LocalMongo, LocalRabbitMQ, LocalServerError
from shared.local_servers._lifecycle import DirectoryBusyError, DirectoryLock, stop_run
from shared.local_servers.env_file import write_env_file

log = logging.getLogger("shared.local_servers")
# What a run leaves for other shells and tools: the servers' URLs.
ENV_FILE = "env"


class RunExtension(Protocol):
    """More processes run beside the servers (`make run`'s services): started once the
    servers answer, watched, and stopped before the servers are."""

    # Files the extension leaves in the state directory while it runs (removed at the end,
    # and by `--stop` after a killed run).
    env_files: tuple[str, ...]

    def start(self, urls: Mapping[str, str], base: Path, *, free_ports: bool) -> list[str]:
        """Start; the lines to show the person who started the run."""
        ...

    def exited(self) -> list[str]:
        """Names of the processes that ended on their own."""
        ...

    def stop(self) -> None: ...


def _parse_args(argv: list[str] | None, prog: str, extended: bool) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a private RabbitMQ node and a SecantusDB server until SIGINT/SIGTERM"
        + (", and every GiveCare service beside them." if extended else "."),
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
    if extended:
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


def main(
    argv: list[str] | None = None,
    *,
    extension: RunExtension | None = None,
    prog: str = "python -m shared.local_servers",
    name: str = "make infra",
) -> int:
    """Run the servers (and `extension`'s processes) until a signal; `name` is how a second
    run on the same directory is told who holds it."""
    args = _parse_args(argv, prog, extension is not None)
    env_files = (ENV_FILE, *(extension.env_files if extension is not None else ()))
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    base: Path = args.dir.resolve()
    if args.stop:
        lines = stop_run(base, str(args.dir)) or ["nothing of this checkout was left running"]
        if DirectoryLock(base, "").holder() is None:
            for leftover in env_files:
                (base / leftover).unlink(missing_ok=True)  # left by a run that was killed
        sys.stdout.write("".join(f"make stop: {line}\n" for line in lines))
        return 0
    owner = DirectoryLock(base, name, str(args.dir))
    try:
        sweep = owner.acquire()
    except DirectoryBusyError as exc:
        log.error("%s; stop it first (Ctrl-C where it runs, or make stop)", exc)
        return 1
    for record in sweep.ended:
        log.warning("ended %s, left running by an earlier run that is gone", record.describe())
    try:
        return _run(args, base, extension, env_files)
    finally:
        owner.release()


def _run(
    args: argparse.Namespace,
    base: Path,
    extension: RunExtension | None,
    env_files: tuple[str, ...],
) -> int:
    """Start everything, wait for a signal or a process that died, stop everything."""
    env_file = base / ENV_FILE
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
    started_extension = False
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
        if extension is not None:
            started_extension = True
            lines.extend(extension.start(urls, base, free_ports=args.free_ports))
        # The one place that talks to the terminal: `make infra` shows these lines.
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        while not stop.wait(1.0):
            for server in servers:
                if not server.is_running:
                    log.error("%s exited unexpectedly; see %s", server.kind, server.log_file)
                    status = 1
                    stop.set()
            if extension is not None and extension.exited():
                log.error("service(s) exited: %s", ", ".join(extension.exited()))
                status = 1
                stop.set()
    except LocalServerError as exc:
        log.error("%s", exc)
        status = 1
    finally:
        if extension is not None and started_extension:
            extension.stop()
        for leftover in env_files:
            (base / leftover).unlink(missing_ok=True)
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            for closed in [pool.submit(server.close) for server in servers]:
                closed.result()
    return status


if __name__ == "__main__":
    sys.exit(main())
