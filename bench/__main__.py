"""`python -m bench` (`make bench`): every benchmark, one after the other, on this machine.

Each runs as its own process with servers of its own (unless RABBITMQ_URL/MONGODB_URL are set),
prints its tables and writes `.local/bench/<name>.json`; `make bench-report` turns those into
docs/performance.md and its plots. A failing benchmark does not stop the others; the exit code
says whether all passed. BENCH_QUICK=1 runs every one at a short size.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench.sizes import QUICK
from shared.local_servers._lifecycle import dies_with

# The headline ones first; any other `bench_*.py` follows in name order.
FIRST = ("bench_ingress", "bench_e2e", "bench_sms_inbound")


def benchmarks() -> list[str]:
    found = sorted(path.stem for path in Path(__file__).parent.glob("bench_*.py"))
    return [name for name in FIRST if name in found] + [n for n in found if n not in FIRST]


def main() -> int:
    failed: list[str] = []
    started = time.monotonic()
    for name in benchmarks():
        print(f"\n--- {name}{' (quick)' if QUICK else ''}", flush=True)
        began = time.monotonic()
        # Ends with this process, however it ends (a killed `make bench` leaves nothing running).
        result = subprocess.run(
            [sys.executable, "-m", f"bench.{name}"], check=False, preexec_fn=dies_with(os.getpid())
        )
        print(f"--- {name}: {time.monotonic() - began:.0f} s, exit {result.returncode}", flush=True)
        if result.returncode != 0:
            failed.append(name)
    print(f"\nall benchmarks: {time.monotonic() - started:.0f} s", flush=True)
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
