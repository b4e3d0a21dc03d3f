"""Nothing a run starts outlives it: `make infra`, `make run` and a pytest session, each started
as a child and ended by SIGTERM or SIGKILL, leave no process behind within seconds, and the next
start on the same directory succeeds. A directory in use is refused with a message naming its
user, and `make stop` ends what a run left behind by its pid records, never by process name.

Every process here records itself in a registry of this module's own (`GIVECARE_PID_DIR`), so
the `make stop` tested here never sees another test run's processes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shared.local_servers._lifecycle import (
    REGISTRY_ENV,
    DirectoryLock,
    ProcessInfo,
    Record,
    all_processes,
    is_alive,
    read_records,
    record_child,
    start_time,
)
from tests.integration.local_servers.session_child import READY_FILE

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
# The guardian gives a process 5 s to stop by itself before SIGKILL; the rest is slack for a
# busy two-core machine.
ENDED_WITHIN = 15.0
READY_WITHIN = 120.0
SERVICES = {"twilio-fake", "ingress", "sms-worker", "sms-sender", "billing", "scheduler"}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Local servers (no URLs, no Docker), and a pid registry of this test's own."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("RABBITMQ_URL", "MONGODB_URL", "PYTEST_ADDOPTS")
    }
    environment.update(
        {
            REGISTRY_ENV: str(tmp_path / "pids"),
            "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock",
            "NO_COLOR": "1",
        }
    )
    return environment


@pytest.fixture
def registry(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """The registry, also for what this process records and reads."""
    monkeypatch.setenv(REGISTRY_ENV, env[REGISTRY_ENV])
    return Path(env[REGISTRY_ENV])


# -- processes, from /proc --------------------------------------------------------------------


def started_by(pid: int) -> list[ProcessInfo]:
    """Every live descendant of `pid`, and everything in the sessions they lead."""
    table = list(all_processes())
    children: dict[int, list[ProcessInfo]] = {}
    for info in table:
        children.setdefault(info.parent, []).append(info)
    found: dict[int, ProcessInfo] = {}
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            if child.pid not in found and not child.zombie:
                found[child.pid] = child
                pending.append(child.pid)
    leaders = {info.pid for info in found.values() if info.session == info.pid}
    found.update({info.pid: info for info in table if info.session in leaders and not info.zombie})
    return list(found.values())


def assert_all_end(processes: list[ProcessInfo], within: float = ENDED_WITHIN) -> None:
    deadline = time.monotonic() + within
    while True:
        left = [p for p in processes if is_alive(p.pid, p.start)]
        if not left:
            return
        if time.monotonic() > deadline:
            names = ", ".join(f"{p.name} (pid {p.pid})" for p in left)
            raise AssertionError(f"still running {within:.0f} s later: {names}")
        time.sleep(0.1)


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes], log: Path) -> None:
    """Until `condition()` holds; fails at once if `process` exits first."""
    deadline = time.monotonic() + READY_WITHIN
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(
                f"not ready (exit status {process.returncode}); its output:\n{log.read_text()}"
            )
        time.sleep(0.1)


@contextlib.contextmanager
def child(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`argv` in a session of its own (so a signal reaches it alone), output to `log`; killed
    on the way out if a failed test left it running."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def announced(log: Path) -> bool:
    """Whether the launcher printed its URLs: both servers are up."""
    return log.exists() and "MONGODB_URL=" in log.read_text()


def launcher(directory: Path, *flags: str, module: str = "shared.local_servers") -> list[str]:
    """What `make infra` (module `services.devtools.run`: `make run`) runs, without make's
    bootstrap."""
    return [sys.executable, "-m", module, "--dir", str(directory), *flags]


def end_and_check(process: subprocess.Popen[bytes], sig: signal.Signals) -> tuple[int, set[str]]:
    """Send `sig` and assert that everything the process started ends; its exit status and
    the names of what it had started."""
    processes = started_by(process.pid)
    process.send_signal(sig)
    status = process.wait(timeout=60)
    assert_all_end(processes)
    return status, {p.name for p in processes}


# -- make infra / make run --------------------------------------------------------------------


def test_infra_and_run_leave_nothing_running_however_they_end(
    tmp_path: Path, env: dict[str, str], registry: Path
) -> None:
    infra = tmp_path / "infra"

    log = tmp_path / "infra-1.log"
    with child(launcher(infra), env, log) as process:
        wait_for(lambda: announced(log), process, log)
        status, ended = end_and_check(process, signal.SIGTERM)
        assert status == 0, log.read_text()
        assert {"epmd", "beam.smp", "secantusd-py"} <= ended
    assert not (infra / "env").exists()

    # The same directory again, now with every service, ended as by `kill -9`.
    log = tmp_path / "run.log"
    with child(
        launcher(infra, "--free-ports", module="services.devtools.run"), env, log
    ) as process:

        def services_started() -> bool:
            return {record.name for record in read_records(registry)} >= SERVICES

        wait_for(services_started, process, log)
        status, ended = end_and_check(process, signal.SIGKILL)
        assert status == -signal.SIGKILL
        assert {"beam.smp", "secantusd-py"} <= ended
    assert read_records(registry) == []  # the guardian dropped what it ended

    # The next start after a SIGKILL succeeds; `make stop` stops it.
    log = tmp_path / "infra-2.log"
    with child(launcher(infra), env, log) as process:
        wait_for(lambda: announced(log), process, log)
        processes = started_by(process.pid)
        stop = subprocess.run(
            launcher(infra, "--stop"), env=env, cwd=ROOT, capture_output=True, check=True
        )
        assert f"stopping the make infra using {infra} (pid {process.pid})" in stop.stdout.decode()
        assert process.wait(timeout=60) == 0
        assert_all_end(processes)
    assert read_records(registry) == []


def test_a_directory_in_use_is_refused_naming_its_user(
    tmp_path: Path, env: dict[str, str], registry: Path
) -> None:
    infra = tmp_path / "infra"
    lock = DirectoryLock(infra, "make run")
    lock.acquire()
    try:
        refused = subprocess.run(launcher(infra), env=env, cwd=ROOT, capture_output=True)
    finally:
        lock.release()
    assert refused.returncode == 1
    assert f"another make run is using {infra} (pid {os.getpid()})" in refused.stderr.decode()


# -- leftovers: the next start, and make stop --------------------------------------------------


@contextlib.contextmanager
def orphan(registry: Path, directory: Path) -> Iterator[Record]:
    """A process recorded as started for `directory` by an owner that is gone: what a run
    killed together with its guardian leaves."""
    owner = subprocess.Popen(["true"])
    owner_start = start_time(owner.pid)
    owner.wait()
    assert owner_start is not None
    process = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        record = record_child(process.pid, "sleeper", directory)
        assert record is not None
        left = dataclasses.replace(record, owner=owner.pid, owner_start=owner_start)
        (registry / record.file_name).write_text(json.dumps(dataclasses.asdict(left)))
        yield left
    finally:
        process.kill()
        process.wait()


def test_the_next_start_ends_what_a_killed_run_left_in_its_directory(
    tmp_path: Path, registry: Path
) -> None:
    infra = tmp_path / "infra"
    with orphan(registry, infra / "rabbitmq") as left, orphan(registry, tmp_path / "x") as other:
        lock = DirectoryLock(infra, "make infra")
        sweep = lock.acquire()
        lock.release()
        assert [record.pid for record in sweep.ended] == [left.pid]
        assert not is_alive(left.pid, left.start)
        assert is_alive(other.pid, other.start)  # not in this directory: not this run's


def test_make_stop_ends_leftovers_by_their_records_and_leaves_live_runs_alone(
    tmp_path: Path, env: dict[str, str], registry: Path
) -> None:
    mine = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        assert record_child(mine.pid, "still-owned", tmp_path) is not None
        with orphan(registry, tmp_path / "bench") as left:
            stop = subprocess.run(
                launcher(tmp_path / "infra", "--stop"),
                env=env,
                cwd=ROOT,
                capture_output=True,
                check=True,
            )
            output = stop.stdout.decode()
            assert f"ended sleeper (pid {left.pid}), left running by pid {left.owner}" in output
            assert not is_alive(left.pid, left.start)
        assert f"left alone: still-owned (pid {mine.pid}), started by pid {os.getpid()}" in output
        assert mine.poll() is None
    finally:
        mine.kill()
        mine.wait()


# -- a pytest session -------------------------------------------------------------------------


def test_a_pytest_session_leaves_no_server_running_however_it_ends(
    tmp_path: Path, env: dict[str, str]
) -> None:
    ready, log = tmp_path / "ready", tmp_path / "pytest.log"
    argv = [
        sys.executable,
        "-m",
        "pytest",
        str(Path(__file__).with_name("session_child.py")),
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        "--basetemp",
        str(tmp_path / "basetemp"),
    ]
    session_env = {**env, READY_FILE: str(ready)}
    for sig, status in ((signal.SIGKILL, -signal.SIGKILL), (signal.SIGTERM, 2)):
        ready.unlink(missing_ok=True)
        with child(argv, session_env, log) as process:
            wait_for(ready.exists, process, log)
            ended_by, ended = end_and_check(process, sig)
            assert ended_by == status, log.read_text()
            # The servers' processes, and the child recorded nowhere (only the guardian's).
            assert {"beam.smp", "secantusd-py", "sleep"} <= ended
    # SIGTERM was a Ctrl-C: the session stopped and tore its fixtures down.
    assert "KeyboardInterrupt" in log.read_text()
