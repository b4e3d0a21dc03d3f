"""The machine a result came from, and how busy *other* work kept it during the run.

Figures from a machine shared with other work are noisy; every result records how many cores
processes outside the benchmark's own tree used meanwhile (all busy CPU time from /proc/stat,
minus the benchmark process and its descendants, over the wall time since this module was
imported), so the report can say which figures came from a loaded machine.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcessStat:
    pid: int
    parent: int
    session: int
    # User + system time of the process itself, and of its children it has reaped.
    own_cpu: float
    reaped_children_cpu: float


def _stat(pid: int | str) -> ProcessStat:
    """One process's /proc entry (fields counted after the command name, which may hold ')')."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return ProcessStat(
        int(pid),
        parent=int(fields[1]),
        session=int(fields[3]),
        own_cpu=(int(fields[11]) + int(fields[12])) / _TICKS,
        reaped_children_cpu=(int(fields[13]) + int(fields[14])) / _TICKS,
    )


def process_cpu(pid: int) -> float:
    """User + system CPU time of a live process so far."""
    return _stat(pid).own_cpu


def process_stats() -> Iterator[ProcessStat]:
    """Every live process."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                yield _stat(entry.name)
            except OSError:
                continue  # gone meanwhile


def _busy_seconds() -> float:
    """CPU time all processes spent not idle (user, nice, system, irq, softirq, steal)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICKS


def _own_tree_seconds() -> float:
    """CPU time of this process and its descendants, alive or reaped."""
    table = {stat.pid: stat for stat in process_stats()}
    children: dict[int, list[int]] = {}
    for stat in table.values():
        children.setdefault(stat.parent, []).append(stat.pid)
    total, pending = 0.0, [os.getpid()]
    while pending:
        pid = pending.pop()
        if pid in table:
            total += table[pid].own_cpu + table[pid].reaped_children_cpu
        pending.extend(children.get(pid, ()))
    return total


_STARTED = (time.monotonic(), _busy_seconds(), _own_tree_seconds())


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def describe() -> dict[str, Any]:
    """The machine, and the cores other work used since this benchmark started."""
    started, busy, own = _STARTED
    elapsed = max(time.monotonic() - started, 1e-9)
    foreign = max(0.0, (_busy_seconds() - busy) - (_own_tree_seconds() - own)) / elapsed
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "other_work_cores": round(foreign, 2),
        "run_seconds": round(elapsed, 1),
    }
