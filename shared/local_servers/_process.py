"""Process plumbing shared by the local RabbitMQ and MongoDB-protocol servers and `make run`.

Each server runs in its own session (process group) so stopping it reaches exactly its own
process tree and nothing else on the machine; ports are remembered in the base directory so a
restart, or the next `make infra`, comes back on the same URL with the same data. Every process
is started through `spawn`, so it ends when we end, however we end (`_lifecycle`).
"""

from __future__ import annotations

import abc
import atexit
import contextlib
import json
import logging
import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import IO, Any, ClassVar, Self, TypeVar

from shared.local_servers._lifecycle import (
    DirectoryBusyError,
    DirectoryLock,
    Record,
    dies_with,
    forget,
    record_child,
    watch_over_this_process,
)

LOOPBACK = "127.0.0.1"
_POLL_SECONDS = 0.1

log = logging.getLogger(__name__)
_T = TypeVar("_T")


class LocalServerError(RuntimeError):
    """A local server failed to start or stop; the message carries the tail of its log."""


class _LastingThread:
    """Runs calls on one daemon thread that lives as long as the process.

    PR_SET_PDEATHSIG fires when the *thread* that forked a child ends: a child forked on a pool
    or `asyncio.to_thread` worker would be killed as soon as that worker retires.
    """

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._owner = 0
        self._lock = threading.Lock()

    def call(self, function: Callable[[], _T]) -> _T:
        if threading.current_thread() is threading.main_thread():
            return function()
        with self._lock:
            if self._thread is None or self._owner != os.getpid() or not self._thread.is_alive():
                self._calls = queue.SimpleQueue()
                self._thread = threading.Thread(target=self._run, name="spawner", daemon=True)
                self._owner = os.getpid()
                self._thread.start()
        result: Future[_T] = Future()
        self._calls.put((function, result))
        return result.result()

    def _run(self) -> None:
        calls = self._calls
        while True:
            function, result = calls.get()
            try:
                result.set_result(function())
            except BaseException as exc:
                result.set_exception(exc)


_spawner = _LastingThread()


def spawn(
    argv: list[str],
    *,
    name: str,
    directory: Path | None,
    env: Mapping[str, str],
    cwd: Path | None = None,
    stdout: IO[bytes] | int | None = None,
) -> tuple[subprocess.Popen[bytes], Record | None]:
    """Start `argv` in a session of its own that ends when this process ends, however it ends.

    The child gets SIGTERM from the kernel if we die, the guardian ends its whole session (what
    it forked too) once we are gone, and its record (`forget` it once reaped) lets the next run
    in `directory` and `make stop` find it if both failed.
    """
    watch_over_this_process()
    parent = os.getpid()
    process = _spawner.call(
        lambda: subprocess.Popen(  # noqa: S603 - argv is built by us, no shell
            argv,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=dies_with(parent),  # prctl only: no lock a fork could have copied held
        )
    )
    return process, record_child(process.pid, name, directory)


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now (the kernel's pick; racy, but rarely lost)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could listen on the port now.

    SO_REUSEADDR, as the servers themselves use it: connections our previous run closed linger
    in TIME_WAIT, and they must not block a restart on the same port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_accepts(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on the port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 40, *, start: int = 0) -> str:
    """The last `lines` lines of a log file written after byte offset `start`."""
    try:
        with path.open("rb") as handle:
            handle.seek(start)
            data = handle.read()
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    text = data.decode("utf-8", errors="replace").rstrip()
    return "\n".join(text.splitlines()[-lines:]) or "<empty>"


class PortBook:
    """Ports chosen for one base directory, kept in `ports.json` and reused while still free."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._ports: dict[str, int] = {}
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(path.read_text())
            if isinstance(loaded, dict):
                self._ports = {str(k): int(v) for k, v in loaded.items()}

    def claim(self, name: str, requested: int | None = None) -> int:
        """`requested` if given, else the remembered port if it is free, else a fresh one."""
        port = requested
        if port is None:
            remembered = self._ports.get(name)
            port = remembered if remembered and port_is_free(remembered) else free_port()
        self._ports[name] = port
        self._path.write_text(json.dumps(self._ports, indent=2, sort_keys=True) + "\n")
        return port


class ManagedProcess:
    """One child process in its own session, its output appended to a log file.

    Exit is detected without reaping (`waitid(WNOWAIT)`), so the process-group id cannot be
    recycled by the kernel before the final sweep of the group.
    """

    def __init__(self, name: str, log_file: Path, state_dir: Path) -> None:
        self.name = name
        self.log_file = log_file
        self.state_dir = state_dir
        self._proc: subprocess.Popen[bytes] | None = None
        self._record: Record | None = None
        self._exit: os.waitid_result | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def spawn(self, argv: list[str], *, env: Mapping[str, str], cwd: Path) -> None:
        if self.running:
            raise LocalServerError(f"{self.name} is already running (pid {self.pid})")
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log_handle:
            self._log_offset = log_handle.tell()
            self._exit = None
            self._proc, self._record = spawn(
                argv, name=self.name, directory=self.state_dir, env=env, cwd=cwd, stdout=log_handle
            )

    @property
    def running(self) -> bool:
        return self._proc is not None and not self._exited()

    def _exited(self) -> bool:
        proc = self._proc
        if proc is None or proc.returncode is not None or self._exit is not None:
            return True
        try:
            self._exit = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # reaped elsewhere
            return True
        return self._exit is not None

    def exit_status(self) -> str:
        proc = self._proc
        if proc is None:
            return "never started"
        if proc.returncode is not None:
            return f"exited with status {proc.returncode}"
        if not self._exited() or self._exit is None:
            return "running"
        if self._exit.si_code == os.CLD_EXITED:
            return f"exited with status {self._exit.si_status}"
        return f"was killed by signal {self._exit.si_status}"

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_file, lines, start=self._log_offset)

    def terminate(self, timeout: float, sig: signal.Signals = signal.SIGTERM) -> bool:
        """Signal the leader, wait up to `timeout`, then SIGKILL the whole group.

        Returns whether the process exited by itself (False if it had to be killed).
        """
        proc = self._proc
        if proc is None:
            return True
        graceful = True
        if not self._exited():
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            deadline = time.monotonic() + timeout
            while not self._exited() and time.monotonic() < deadline:
                time.sleep(_POLL_SECONDS)
            graceful = self._exited()
            if not graceful:
                log.warning("%s did not stop within %.0fs; killing it", self.name, timeout)
        self._sweep_and_reap()
        return graceful

    def kill(self) -> None:
        """SIGKILL the whole process group at once (a crash, as far as the server can tell)."""
        if self._proc is not None:
            self._sweep_and_reap()

    def _sweep_and_reap(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            # The leader is alive or an unreaped zombie, so its pid (== pgid) is still ours.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        forget(self._record)
        self._record = None


_live_servers: set[LocalServer] = set()


@atexit.register
def _kill_leftovers() -> None:
    """Last resort if an owner forgot `close()`: never leave brokers behind the interpreter."""
    for server in list(_live_servers):
        with contextlib.suppress(Exception):
            server.abandon()


class LocalServer(abc.ABC):
    """Start/stop/restart life cycle of a server process living under one base directory.

    `start()` and `stop()` may be called repeatedly: ports and data directory stay the same, so
    a stop/start pair is an on-disk restart. `close()` stops the server and, if the base
    directory was a temporary one made here, removes it once the processes have exited.
    """

    kind: ClassVar[str]

    def __init__(
        self,
        base_dir: Path | str | None,
        *,
        startup_timeout: float,
        stop_timeout: float,
    ) -> None:
        if base_dir is None:
            self._base_dir = Path(tempfile.mkdtemp(prefix=f"givecare-{self.kind}-"))
            self._owns_dir = True
        else:
            self._base_dir = Path(base_dir).resolve()
            self._base_dir.mkdir(parents=True, exist_ok=True)
            self._owns_dir = False
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._ports = PortBook(self._base_dir / "ports.json")
        self._owner = DirectoryLock(self._base_dir, type(self).__name__)
        self._lock = threading.RLock()
        self._closed = False
        self._start_failed = False
        self.last_start_seconds: float | None = None

    # -- subclass hooks ---------------------------------------------------------------------

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """The client URL; stable across restarts."""

    @property
    @abc.abstractmethod
    def _main(self) -> ManagedProcess:
        """The server process whose exit means the server is down."""

    @property
    @abc.abstractmethod
    def _listen_ports(self) -> dict[str, int]:
        """Every port the server will bind, by purpose; all must be free before a start."""

    @abc.abstractmethod
    def _spawn(self) -> None:
        """Write config files and launch the process(es)."""

    @abc.abstractmethod
    def _probe(self) -> bool:
        """One readiness attempt: True once a client can really use the server."""

    @abc.abstractmethod
    def _terminate(self, timeout: float) -> None:
        """Stop gracefully (bounded by `timeout`), killing whatever is left afterwards."""

    @abc.abstractmethod
    def kill(self) -> None:
        """SIGKILL every process of this server; for crash tests and last-resort cleanup."""

    # -- life cycle -------------------------------------------------------------------------

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @property
    def log_file(self) -> Path:
        return self._main.log_file

    @property
    def is_running(self) -> bool:
        return self._main.running

    def start(self) -> Self:
        """Launch the server and block until a client can use it (bounded by the timeout)."""
        with self._lock:
            if self._closed:
                raise LocalServerError(f"{self.kind} server was closed; make a new one")
            if self.is_running:
                return self
            began = time.monotonic()
            self._take_directory()
            _live_servers.add(self)
            # A foreign listener on our port would answer the readiness probe in our stead.
            taken = {name: p for name, p in self._listen_ports.items() if not port_is_free(p)}
            if taken:
                raise LocalServerError(f"cannot start {self.kind}: port(s) already in use: {taken}")
            try:
                self._spawn()
                self._wait_ready(began + self.startup_timeout)
            except BaseException:
                self._start_failed = True
                self.kill()
                raise
            self._start_failed = False
            self.last_start_seconds = time.monotonic() - began
            log.info(
                "%s ready at %s after %.1fs (dir %s)",
                self.kind,
                self.url,
                self.last_start_seconds,
                self._base_dir,
            )
            return self

    def _take_directory(self) -> None:
        """Hold the base directory until `close()`; what a killed earlier user left running in
        it is ended first, so its ports and data files are free again."""
        try:
            sweep = self._owner.acquire()
        except DirectoryBusyError as exc:
            raise LocalServerError(f"cannot start {self.kind}: {exc}") from None
        for record in sweep.ended:
            log.warning(
                "ended %s, left running in %s by a run that is gone",
                record.describe(),
                self._base_dir,
            )

    def _wait_ready(self, deadline: float) -> None:
        while True:
            if not self._main.running:
                raise LocalServerError(
                    f"{self.kind} server {self._main.exit_status()} before becoming ready; "
                    f"last lines of {self._main.log_file}:\n{self._main.log_tail()}"
                )
            if self._probe():
                return
            if time.monotonic() >= deadline:
                raise LocalServerError(
                    f"{self.kind} server not ready after {self.startup_timeout:.0f}s; "
                    f"last lines of {self._main.log_file}:\n{self._main.log_tail()}"
                )
            time.sleep(_POLL_SECONDS)

    def stop(self, timeout: float | None = None) -> None:
        """Graceful shutdown, waiting for the processes to exit (SIGKILL after `timeout`)."""
        with self._lock:
            began = time.monotonic()
            self._terminate(self.stop_timeout if timeout is None else timeout)
            log.info("%s stopped after %.1fs", self.kind, time.monotonic() - began)

    def restart(self) -> Self:
        """Stop and start again on the same port and data directory."""
        with self._lock:
            self.stop()
            return self.start()

    def close(self) -> None:
        """Stop, then delete the base directory if it is a temporary one made by us."""
        with self._lock:
            if self._closed:
                return
            self.stop()
            self._closed = True
            _live_servers.discard(self)
            self._owner.release()
            if self._owns_dir:
                shutil.rmtree(self._base_dir, ignore_errors=True)

    def abandon(self) -> None:
        """Kill at once (interpreter exit without `close()`) and drop our temporary directory.

        The directory is kept if the last start failed: its log is what the error pointed at.
        """
        self.kill()
        self._closed = True
        _live_servers.discard(self)
        self._owner.release()
        if self._owns_dir and not self._start_failed:
            shutil.rmtree(self._base_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"<{type(self).__name__} {self.url} {state} dir={self._base_dir}>"
