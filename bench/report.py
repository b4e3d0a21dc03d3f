"""How every benchmark reports: an aligned table on stdout and a JSON file under `.local/bench/`."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import machine
from bench.sizes import QUICK

RESULTS_DIR = Path(os.environ.get("BENCH_RESULTS_DIR", ".local/bench"))


def print_table(title: str, rows: Sequence[Mapping[str, Any]]) -> None:
    print(f"\n== {title} ==")
    if not rows:
        print("(no rows)")
        return
    columns = list(rows[0])
    cells = [[format_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))


def write_result(name: str, rows: Sequence[Mapping[str, Any]], **context: Any) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    document = {
        "benchmark": name,
        "at": datetime.now(UTC).isoformat(),
        "quick": QUICK,
        "machine": machine.describe(),
        "context": context,
        "rows": list(rows),
    }
    path.write_text(json.dumps(document, indent=2, default=str))
    print(f"(written to {path})")
    return path


def read_result(name: str) -> dict[str, Any] | None:
    """A benchmark's last JSON result, or None if it has not run here."""
    path = RESULTS_DIR / f"{name}.json"
    if not path.exists():
        return None
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def format_cell(value: Any) -> str:
    """A value as tables show it: thousands separators, two decimals for floats."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
