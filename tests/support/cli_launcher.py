"""The forking side of `tests/support/cli.py`: a process that imports the `givecare` CLI once
and then forks one child per command, so each command is still a process of its own, with
exactly its environment, stdin, stdout, stderr and exit code, without paying the CLI's import
(seconds on two busy cores) each time.

Protocol, one JSON object per line: a request on stdin
`{"id", "args", "env", "stdin", "stdout", "stderr"}` (the last three are file paths, `stdin`
may be null) is answered on stdout by `{"id", "pid"}` when the child starts and
`{"id", "code"}` when it ends. End of stdin: wait for the children still running, then exit.
"""

from __future__ import annotations

import json
import os
import selectors
import sys
import threading
import time
import traceback
from typing import Any

import services.cli.main

_POLL_SECONDS = 0.02


def _child(request: dict[str, Any]) -> int:
    """In the forked child: become the command's process, run it, return its exit code."""
    os.environ.clear()
    os.environ.update(request["env"])
    stdin = request["stdin"] or os.devnull
    for fd, path, flags in (
        (0, stdin, os.O_RDONLY),
        (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
    ):
        opened = os.open(path, flags, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    # Fresh text streams on the new descriptors: nothing the launcher buffered carries over.
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's stdin, closed by its exit
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    sys.argv = ["givecare", *request["args"]]
    try:
        services.cli.main.app(args=request["args"], prog_name="givecare")
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def _answer(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def serve() -> None:
    # Forking is only safe from a single thread: importing the CLI must not have started any.
    assert threading.active_count() == 1, "importing the CLI started a thread"
    running: dict[int, str] = {}
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ)
    pending = b""
    open_input = True
    _answer({"ready": True})
    while open_input or running:
        if open_input and selector.select(_POLL_SECONDS):
            chunk = os.read(0, 1 << 16)
            if not chunk:
                open_input = False
                selector.unregister(0)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                _start(json.loads(line), running)
        elif not open_input:
            time.sleep(_POLL_SECONDS)
        while running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            _answer({"id": running.pop(pid), "code": os.waitstatus_to_exitcode(status)})


def _start(request: dict[str, Any], running: dict[int, str]) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = _child(request)
        finally:
            os._exit(code)
    running[pid] = request["id"]
    _answer({"id": request["id"], "pid": pid})


if __name__ == "__main__":
    serve()
