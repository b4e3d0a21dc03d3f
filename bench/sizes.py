"""How big each benchmark runs: the full size by default, a short variant with BENCH_QUICK=1
(for trying the harness; its figures are too short to quote)."""

from __future__ import annotations

import os
from typing import TypeVar

T = TypeVar("T")

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")


def sized(full: T, quick: T) -> T:
    """`full`, or `quick` under BENCH_QUICK=1."""
    return quick if QUICK else full
