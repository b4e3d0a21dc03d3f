"""The `givecare` console script as a process, for tests: `await givecare(*args, env=...)`.

Each command is a process of its own with exactly the environment it is given, as an
operator's would be, but forked from one launcher (`tests/support/cli_launcher.py`) that has
imported the CLI already: a fresh interpreter spends seconds importing it on two busy cores, and
the suite runs the CLI hundreds of times. The launcher runs this checkout (`python -m`), never
whichever checkout the venv's `givecare` script was installed from. The tests that need a
fresh interpreter (the console script itself, a process to SIGKILL) start one themselves.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

_READY_SECONDS = 120


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def error(self) -> Any:
        """The JSON reason a refused command printed last on stderr."""
        return json.loads(self.stderr.splitlines()[-1])


class _Launcher:
    """The launcher process, its request pipe, and a thread matching its answers to requests."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.cli_launcher"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._requests: IO[str] = self._process.stdin
        self._answers: IO[str] = self._process.stdout
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._started: dict[str, concurrent.futures.Future[int]] = {}
        self._ended: dict[str, concurrent.futures.Future[int]] = {}
        ready = self._answers.readline()
        if json.loads(ready or "{}").get("ready") is not True:
            raise RuntimeError(f"the CLI launcher did not start (exit {self._process.poll()})")
        threading.Thread(target=self._read, name="cli-launcher", daemon=True).start()

    def _read(self) -> None:
        for line in self._answers:
            answer = json.loads(line)
            with self._lock:
                if "pid" in answer:
                    future = self._started.pop(answer["id"])
                    value = answer["pid"]
                else:
                    future = self._ended.pop(answer["id"])
                    value = answer["code"]
            if not future.cancelled():  # a timed-out wait cancels its future
                future.set_result(value)
        with self._lock:  # the launcher died: nothing still waiting will ever be answered
            for future in [*self._started.values(), *self._ended.values()]:
                if not future.done():
                    future.set_exception(RuntimeError("the CLI launcher exited"))

    def alive(self) -> bool:
        return self._process.poll() is None

    def start(
        self, args: tuple[str, ...], env: dict[str, str], stdin: str | None, files: Path
    ) -> tuple[concurrent.futures.Future[int], concurrent.futures.Future[int]]:
        request_id = str(next(self._ids))
        started: concurrent.futures.Future[int] = concurrent.futures.Future()
        ended: concurrent.futures.Future[int] = concurrent.futures.Future()
        stdin_path = None
        if stdin is not None:
            stdin_path = files / "stdin"
            stdin_path.write_text(stdin)
        request = {
            "id": request_id,
            "args": list(args),
            "env": env,
            "stdin": None if stdin_path is None else str(stdin_path),
            "stdout": str(files / "stdout"),
            "stderr": str(files / "stderr"),
        }
        with self._lock:
            self._started[request_id] = started
            self._ended[request_id] = ended
            self._requests.write(json.dumps(request) + "\n")
            self._requests.flush()
        return started, ended

    def close(self) -> None:
        self._requests.close()
        self._process.wait(timeout=30)


_launcher: _Launcher | None = None
_launcher_lock = threading.Lock()


def _shared_launcher() -> _Launcher:
    global _launcher
    with _launcher_lock:
        if _launcher is None or not _launcher.alive():
            _launcher = _Launcher()
            atexit.register(_launcher.close)
        return _launcher


async def givecare(
    *args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 120
) -> CliResult:
    """`givecare <args>` as a process with exactly the environment `env`; killed, and the test
    failed, if it runs longer than `timeout` seconds."""
    launcher = await asyncio.to_thread(_shared_launcher)
    with tempfile.TemporaryDirectory(prefix="givecare-cli-") as directory:
        files = Path(directory)
        started, ended = launcher.start(args, dict(env), stdin, files)
        pid = await asyncio.wrap_future(started)
        try:
            code = await asyncio.wait_for(asyncio.wrap_future(ended), timeout)
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)
            raise
        return CliResult(
            code,
            (files / "stdout").read_text(),
            (files / "stderr").read_text(),
        )
