"""The env files `make infra` and `make run` leave for other shells and tools: `KEY=value`
lines, shell-quoted so `set -a; . <file>; set +a` works, and read back by `read_env_file`."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path


def write_env_file(path: Path, values: Mapping[str, str]) -> None:
    """Write `values`, readable by the owner only (it may hold development secrets)."""
    text = "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    path.chmod(0o600)  # an existing file keeps its old mode through O_CREAT


def read_env_file(path: Path) -> dict[str, str]:
    """The `KEY=value` lines of a file written by `write_env_file` (comments and blanks skipped);
    empty when the file does not exist."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, value = line.partition("=")
        words = shlex.split(value)
        values[key.strip()] = words[0] if words else ""
    return values
