"""Processes we start end when the process that started them ends, however it ends.

Standard library only: this file is also the guardian's program (`python -I -S _lifecycle.py
guard ...`), which must start in milliseconds and import nothing of the project. Linux only
(`/proc`, `prctl`); elsewhere every function here quietly does nothing.

Three layers, each catching what the one before misses:

* `dies_with(parent)`, a `preexec_fn`: PR_SET_PDEATHSIG makes the kernel send a direct child
  SIGTERM the moment its parent dies, even by SIGKILL. It reaches only that one process (the
  RabbitMQ start script, not the Erlang VM it forks) and fires when the *thread* that forked the
  child ends, so `_process.spawn` forks on a thread that lives as long as the process.
* The guardian (`watch_over_this_process`): one small process per owner, in its own session,
  polling the owner. Once the owner is gone it ends every session the owner recorded (all of
  it: the Erlang VM and whatever else the leader forked) and the owner's last seen direct
  children (for processes started by code that records nothing, such as the e2e tests'
  services): SIGTERM, a grace period, then SIGKILL.
* Records: one JSON file per started session in the registry (`.local/pids/` of the checkout,
  or `$GIVECARE_PID_DIR`), removed when the process is reaped. The next start on the same state
  directory and `make stop` read them to end what a run killed with its guardian left behind.

A process is named by its pid *and* its start time (`/proc/<pid>/stat`), so a recycled pid is
never mistaken for ours; signals go through a pidfd where the kernel has them.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

REGISTRY_ENV = "GIVECARE_PID_DIR"
LOCK_FILE = "owner.lock"
# How long an ended process gets to stop by itself before SIGKILL (a RabbitMQ node needs ~2 s).
DEFAULT_GRACE = 5.0
_GUARD_POLL_SECONDS = 0.25
_PR_SET_PDEATHSIG = 1
_PROC = Path("/proc")


# -- /proc ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    parent: int
    session: int
    # Clock ticks after boot: with the pid, the identity of a process.
    start: int
    zombie: bool
    name: str


def process_info(pid: int) -> ProcessInfo | None:
    """One process's /proc entry, or None when it does not exist (or there is no /proc)."""
    try:
        head, _, tail = (_PROC / str(pid) / "stat").read_text().rpartition(")")
        fields = tail.split()  # after the name, which may hold ')'; fields[0] is the state
        return ProcessInfo(
            pid=pid,
            parent=int(fields[1]),
            session=int(fields[3]),
            start=int(fields[19]),
            zombie=fields[0] in ("Z", "X"),
            name=head.partition("(")[2],
        )
    except (OSError, ValueError, IndexError):
        return None


def all_processes() -> Iterator[ProcessInfo]:
    """Every process there is (zombies included)."""
    with contextlib.suppress(OSError):
        for entry in _PROC.iterdir():
            if entry.name.isdigit():
                info = process_info(int(entry.name))
                if info is not None:
                    yield info


def start_time(pid: int) -> int | None:
    info = process_info(pid)
    return info.start if info is not None else None


def is_alive(pid: int, start: int) -> bool:
    """Whether that very process (not a later one with its pid) still runs; a zombie has ended."""
    info = process_info(pid)
    return info is not None and info.start == start and not info.zombie


def children_of(pid: int) -> list[ProcessInfo]:
    """Live direct children, from `/proc/<pid>/task/*/children` (a scan of /proc without it)."""
    pids: set[int] = set()
    try:
        for task in (_PROC / str(pid) / "task").iterdir():
            pids.update(int(p) for p in (task / "children").read_text().split())
    except FileNotFoundError:
        pids = {p.pid for p in all_processes() if p.parent == pid}
    except OSError:
        return []
    found = (process_info(child) for child in pids)
    return [info for info in found if info is not None and not info.zombie]


def send_signal(pid: int, start: int, sig: int) -> bool:
    """Signal the process `(pid, start)` if it still runs; False if it is gone.

    Through a pidfd, checked after opening, the pid cannot be recycled in between.
    """
    try:
        descriptor = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    except (AttributeError, OSError):  # no pidfd (kernel < 5.3): a very small race remains
        if not is_alive(pid, start):
            return False
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
        return True
    try:
        if not is_alive(pid, start):
            return False
        with contextlib.suppress(ProcessLookupError, PermissionError):
            signal.pidfd_send_signal(descriptor, sig)
        return True
    finally:
        os.close(descriptor)


def dies_with(parent: int) -> Callable[[], None]:
    """A `preexec_fn`: SIGTERM to the child when `parent` (the forking thread) dies."""
    prctl = _prctl()

    def preexec() -> None:
        if prctl is None:
            return
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function: Callable[..., int] = libc.prctl
    except (OSError, AttributeError):
        return None
    return function


# -- records ------------------------------------------------------------------------------------


def registry() -> Path:
    """Where pid records live: `$GIVECARE_PID_DIR`, else `.local/pids` of this checkout."""
    configured = os.environ.get(REGISTRY_ENV, "").strip()
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / ".local" / "pids"


@dataclass(frozen=True)
class Record:
    """A process we started (with its whole session when `session`) and who started it."""

    pid: int
    start: int
    name: str
    # The state directory it belongs to ("" for none): the next start there ends leftovers.
    directory: str
    owner: int
    owner_start: int
    session: bool = True

    @property
    def file_name(self) -> str:
        return f"{self.pid}-{self.start}.json"

    def owner_alive(self) -> bool:
        return is_alive(self.owner, self.owner_start)

    def under(self, directory: Path) -> bool:
        return bool(self.directory) and Path(self.directory).is_relative_to(directory)

    def describe(self) -> str:
        return f"{self.name} (pid {self.pid})"


def record_child(
    pid: int, name: str, directory: Path | None, *, session: bool = True
) -> Record | None:
    """Write the record of a child we just started; None when there is no /proc or no room."""
    start, owner_start = start_time(pid), start_time(os.getpid())
    if start is None or owner_start is None:
        return None
    record = Record(
        pid=pid,
        start=start,
        name=name,
        directory=str(directory.resolve()) if directory is not None else "",
        owner=os.getpid(),
        owner_start=owner_start,
        session=session,
    )
    folder = registry()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{record.file_name}.tmp"
        temporary.write_text(json.dumps(asdict(record)) + "\n")
        temporary.replace(folder / record.file_name)
    except OSError:
        return None
    return record


def forget(record: Record | None, folder: Path | None = None) -> None:
    if record is not None:
        ((folder or registry()) / record.file_name).unlink(missing_ok=True)


def read_records(folder: Path | None = None) -> list[Record]:
    """Every record in the registry; unreadable ones are skipped."""
    records = []
    with contextlib.suppress(OSError):
        for path in sorted((folder or registry()).glob("*.json")):
            with contextlib.suppress(OSError, ValueError, TypeError):
                records.append(Record(**json.loads(path.read_text())))
    return records


# -- ending processes ---------------------------------------------------------------------------


def _members(record: Record, table: dict[int, ProcessInfo]) -> list[ProcessInfo]:
    """The record's live processes: the leader, and for a session everything still in it.

    The kernel keeps a session id in use (never recycled) while any process of the session
    lives, so members found by session id are the original session's even once its leader is
    gone.
    """
    leader = table.get(record.pid)
    if leader is not None and leader.start != record.start:
        return []  # the pid was recycled, so the session is over
    found = [leader] if leader is not None and not leader.zombie else []
    if record.session:
        found += [
            info
            for info in table.values()
            if info.session == record.pid and info.pid != record.pid and not info.zombie
        ]
    return found


def running(records: Iterable[Record]) -> list[Record]:
    """The records of which some process still runs."""
    table = {info.pid: info for info in all_processes()}
    return [record for record in records if _members(record, table)]


def end(records: Iterable[Record], grace: float = DEFAULT_GRACE) -> list[Record]:
    """SIGTERM each (the leader, or the members once the leader is gone), wait up to `grace`
    for all of them to exit, then SIGKILL whatever is left; the records that had something to
    end. Returns once nothing of them runs (or 5 s after SIGKILL)."""
    table = {info.pid: info for info in all_processes()}
    live = [record for record in records if _members(record, table)]
    if not live:
        return []
    for record in live:
        members = _members(record, table)
        leader = [m for m in members if m.pid == record.pid]
        for member in leader or members:
            send_signal(member.pid, member.start, signal.SIGTERM)
    for sig, wait in ((signal.SIGKILL, grace), (None, 5.0)):
        deadline = time.monotonic() + wait
        while True:
            table = {info.pid: info for info in all_processes()}
            remaining = [m for record in live for m in _members(record, table)]
            if not remaining or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        if not remaining or sig is None:
            break
        for member in remaining:
            send_signal(member.pid, member.start, sig)
    return live


@dataclass(frozen=True)
class Sweep:
    ended: list[Record]
    # Still running, but their owner is alive too: someone else's run, left alone.
    in_use: list[Record]


def end_leftovers(under: Path | None = None, grace: float = DEFAULT_GRACE) -> Sweep:
    """End every recorded process whose owner is gone (only those of state directories under
    `under`, if given), and drop the records of processes that no longer run."""
    folder = registry()
    records = [r for r in read_records(folder) if under is None or r.under(under)]
    live = running(records)
    for record in records:
        if record not in live:
            forget(record, folder)
    orphans = [record for record in live if not record.owner_alive()]
    ended = end(orphans, grace)
    for record in orphans:
        forget(record, folder)
    in_use = [r for r in live if r not in orphans and r.owner != os.getpid()]
    return Sweep(ended, in_use)


# -- the guardian -------------------------------------------------------------------------------


_guardian: tuple[int, int] | None = None  # (owner pid, guardian pid)
_guardian_lock = threading.Lock()


def watch_over_this_process(grace: float = DEFAULT_GRACE) -> None:
    """Make sure this process has a live guardian (started on first use, and again if it died).

    The guardian is our child in a session of its own, so a signal to our process group or
    terminal does not reach it; it outlives us by as long as ending our processes takes.
    """
    global _guardian
    owner_start = start_time(os.getpid())
    if owner_start is None:
        return  # no /proc: nothing the guardian could do
    with _guardian_lock:
        if _guardian is not None and _guardian[0] == os.getpid():
            try:
                alive = os.waitpid(_guardian[1], os.WNOHANG) == (0, 0)
            except ChildProcessError:
                alive = False
            if alive:
                return
        argv = [
            sys.executable,
            "-I",
            "-S",
            str(Path(__file__).resolve()),
            "guard",
            "--owner",
            str(os.getpid()),
            "--owner-start",
            str(owner_start),
            "--registry",
            str(registry()),
            "--grace",
            str(grace),
        ]
        pid = os.posix_spawn(
            sys.executable,
            argv,
            dict(os.environ),
            setsid=True,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            ],
        )
        _guardian = (os.getpid(), pid)


def guard(owner: int, owner_start: int, folder: Path, grace: float) -> list[Record]:
    """Wait for the owner to end, then end what it started; what had to be ended."""
    me = os.getpid()
    seen: list[ProcessInfo] = []
    while True:
        children = [child for child in children_of(owner) if child.pid != me]
        if not is_alive(owner, owner_start):
            break  # keep the list read while it lived: its orphans now have another parent
        seen = children
        time.sleep(_GUARD_POLL_SECONDS)
    recorded = [r for r in read_records(folder) if (r.owner, r.owner_start) == (owner, owner_start)]
    known = {record.pid for record in recorded}
    unrecorded = [
        Record(
            pid=child.pid,
            start=child.start,
            name=child.name,
            directory="",
            owner=owner,
            owner_start=owner_start,
            session=child.session == child.pid,
        )
        for child in seen
        if child.pid not in known
    ]
    ended = end([*recorded, *unrecorded], grace)
    for record in recorded:
        forget(record, folder)
    return ended


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="_lifecycle.py")
    commands = parser.add_subparsers(dest="command", required=True)
    guard_command = commands.add_parser("guard", help="end an owner's processes once it is gone")
    guard_command.add_argument("--owner", type=int, required=True)
    guard_command.add_argument("--owner-start", type=int, required=True)
    guard_command.add_argument("--registry", type=Path, required=True)
    guard_command.add_argument("--grace", type=float, default=DEFAULT_GRACE)
    args = parser.parse_args(argv)
    # Ctrl-C in the owner's terminal is for the owner, which ends us by ending.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    ended = guard(args.owner, args.owner_start, args.registry, args.grace)
    if ended:
        with contextlib.suppress(OSError):
            names = ", ".join(record.describe() for record in ended)
            sys.stderr.write(f"pid {args.owner} is gone; ended what it left running: {names}\n")
    return 0


# -- state directories --------------------------------------------------------------------------


class DirectoryBusyError(RuntimeError):
    """Another live process holds the state directory."""


@dataclass(frozen=True)
class Holder:
    pid: int
    start: int
    purpose: str


class DirectoryLock:
    """Who uses a state directory: an flock on `<dir>/owner.lock`, which the kernel drops when
    its holder exits however it exits, so the lock itself is never stale. The file names the
    holder, for the message a second user gets."""

    def __init__(self, directory: Path, purpose: str, display: str | None = None) -> None:
        self.directory = directory
        self.purpose = purpose
        self.display = display or str(directory)
        self._descriptor: int | None = None

    @property
    def path(self) -> Path:
        return self.directory / LOCK_FILE

    @property
    def held(self) -> bool:
        return self._descriptor is not None

    def acquire(self) -> Sweep:
        """Take the directory, then end what a killed earlier user left running in it.

        Raises DirectoryBusyError naming the live holder otherwise.
        """
        if self._descriptor is not None:
            return Sweep([], [])
        self.directory.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            holder = self.holder()
            who = f" (pid {holder.pid})" if holder is not None else ""
            what = holder.purpose if holder is not None else self.purpose
            raise DirectoryBusyError(f"another {what} is using {self.display}{who}") from None
        me = Holder(os.getpid(), start_time(os.getpid()) or 0, self.purpose)
        os.ftruncate(descriptor, 0)
        os.write(descriptor, (json.dumps(asdict(me)) + "\n").encode())
        self._descriptor = descriptor
        return end_leftovers(under=self.directory.resolve())

    def release(self) -> None:
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is not None:
            os.close(descriptor)  # drops the flock

    def holder(self) -> Holder | None:
        """The live process holding the directory, if any (without taking it)."""
        try:
            descriptor = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                pass  # held: the file names the holder
            else:
                return None
            with contextlib.suppress(ValueError, TypeError):
                return Holder(**json.loads(os.read(descriptor, 4096)))
            return None
        finally:
            os.close(descriptor)


def stop_run(directory: Path, display: str, timeout: float = 60.0) -> list[str]:
    """`make stop`: SIGTERM the run holding `directory` and wait for it to stop its processes
    (SIGKILL after `timeout`, its guardian then ends them), then end every recorded process of
    this checkout whose owner is gone. Never looks at process names; says what it did."""
    lines = []
    holder = DirectoryLock(directory, "").holder()
    if holder is not None and send_signal(holder.pid, holder.start, signal.SIGTERM):
        lines.append(f"stopping the {holder.purpose} using {display} (pid {holder.pid})")
        deadline = time.monotonic() + timeout
        while is_alive(holder.pid, holder.start) and time.monotonic() < deadline:
            time.sleep(0.1)
        if send_signal(holder.pid, holder.start, signal.SIGKILL):
            lines.append(f"it did not stop within {timeout:.0f} s; killed it")
    sweep = end_leftovers()
    lines += [f"ended {r.describe()}, left running by pid {r.owner}" for r in sweep.ended]
    lines += [
        f"left alone: {r.describe()}, started by pid {r.owner}, which still runs"
        for r in sweep.in_use
    ]
    return lines


if __name__ == "__main__":
    sys.exit(_main())
