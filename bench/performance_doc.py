"""`python -m bench.performance_doc`: fill docs/performance.md's tables from `.local/bench/*.json`.

The prose of the report is written by hand; every figure in it sits between
`<!-- bench:NAME -->` and `<!-- /bench:NAME -->` and is regenerated here from the last results,
so the numbers always come from one run of `make bench` and can be redone on a quiet machine.
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.bench_e2e import detail, highest_kept_up, summary
from bench.report import format_cell, read_result
from services.migrations import message_parts, split_users

DOCUMENT = Path("docs/performance.md")
# Other work above this many cores while a benchmark ran makes its figures "loaded".
LOADED_CORES = 0.25
BENCHMARKS = ("ingress", "e2e", "sms_inbound", "sms_sender", "scheduler", "migrations")
Result = dict[str, Any]
_CLEANUPS = frozenset({split_users.CLEANUP_ID, message_parts.CLEANUP_ID})


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return "_(no rows)_"
    names = list(columns or rows[0])
    lines = [
        "| " + " | ".join(names) + " |",
        "|" + "|".join("---:" for _ in names) + "|",
    ]
    lines += ["| " + " | ".join(format_cell(row.get(n, "")) for n in names) + " |" for row in rows]
    return "\n".join(lines)


def _missing(benchmark: str) -> str:
    command = f"uv run --frozen python -m bench.bench_{benchmark}"
    return f"_No result yet: run `make bench` (or `{command}`)._"


_RUN_COLUMNS = (
    "benchmark",
    "taken (UTC)",
    "size",
    "cpus",
    "other work (cores)",
    "machine",
    "database server",
)


def _runs(results: Mapping[str, Result | None]) -> str:
    rows = []
    for name in BENCHMARKS:
        result = results.get(name)
        if result is None:
            rows.append({"benchmark": name, "taken (UTC)": "not run", "size": ""})
            continue
        machine = result.get("machine", {})
        other = machine.get("other_work_cores")
        loaded = isinstance(other, int | float) and other > LOADED_CORES
        rows.append(
            {
                "benchmark": name,
                "taken (UTC)": str(result.get("at", ""))[:16].replace("T", " "),
                "size": "quick" if result.get("quick") else "full",
                "cpus": machine.get("cpus"),
                "other work (cores)": "?" if other is None else other,
                "machine": "**loaded**" if loaded else "quiet",
                "database server": result.get("context", {}).get("database", "?"),
            }
        )
    return markdown_table(rows, _RUN_COLUMNS)


def _ingress(result: Result) -> str:
    columns = [
        "target",
        "offered_rps",
        "achieved_rps",
        "p50_ms",
        "p99_ms",
        "errors",
        "cpu_us_per_req",
        "broker_cpu_us_per_req",
        "db_cpu_us_per_req",
        "db_ops_per_req",
        "twilio_calls",
        "load_generator_cores",
    ]
    ratios = result["context"].get("ratios") or []
    return (
        markdown_table(result["rows"], columns)
        + "\n\nRatios per offered rate (above 1: ingress is better):\n\n"
        + markdown_table(ratios)
    )


def _e2e(result: Result) -> str:
    rows = summary(result["rows"])
    idle = result["context"].get("idle") or []
    text = (
        markdown_table(rows)
        + "\n\nIdle CPU (cores) with no traffic, not charged to any message:\n\n"
        + markdown_table(idle)
    )
    for target, target_rows in _by_target(result["rows"]).items():
        by_process = [
            {"phase": row["phase"], **row.get("cpu_by_process", {})} for row in target_rows
        ]
        text += f"\n\nCPU µs per message by process, net of idle ({target}):\n\n"
        text += markdown_table(by_process)
    by_kind = [
        {"target": row["target"], "phase": row["phase"], **row.get("db_ops_by_kind", {})}
        for row in result["rows"]
    ]
    text += "\n\nDatabase operations per message by kind (server counters), net of idle:\n\n"
    text += markdown_table(by_kind)
    by_service = detail(result["rows"], "commands_by_service", "phase")
    if any(len(row) > 2 for row in by_service):
        text += "\n\nDatabase commands per message by service (each service's own count):\n\n"
        text += markdown_table(by_service)
    return text


def _capacity(result: Result) -> str:
    steps = result["context"].get("capacity") or []
    if not steps:
        return "_No capacity steps in the last e2e result: run `make bench`._"
    text = markdown_table(summary(steps))
    text += "\n\nCPU µs per message by process and server, net of idle, per step:\n\n"
    text += markdown_table(detail(steps, "cpu_by_process", "offered_rps"))
    text += "\n\nDatabase commands per message by service, per step:\n\n"
    return text + markdown_table(detail(steps, "commands_by_service", "offered_rps"))


def _worker(result: Result) -> str:
    rows = [{k: v for k, v in row.items() if k != "breakdown"} for row in result["rows"]]
    ratios = result["context"].get("ratios") or []
    return (
        markdown_table(rows)
        + "\n\nThe two runtimes compared (msgs/s and CPU: above 1, the product's is better):\n\n"
        + markdown_table(ratios)
    )


def _plain(result: Result) -> str:
    return markdown_table(result["rows"])


def _by_target(rows: Sequence[Result]) -> dict[str, list[Result]]:
    grouped: dict[str, list[Result]] = {}
    for row in rows:
        grouped.setdefault(row["target"], []).append(row)
    return grouped


def _times(a: float, b: float) -> str:
    """How many times `a` is `b`, as the report words it."""
    if not b or math.isnan(a) or math.isnan(b):
        return "n/a"
    return f"{a / b:.1f}x"


def _sustained(rows: Sequence[Result]) -> int | None:
    """The highest offered rate answered in full (≥95% of it achieved, no errors)."""
    kept = [
        r["offered_rps"]
        for r in rows
        if not r["errors"] and r["achieved_rps"] >= 0.95 * r["offered_rps"]
    ]
    return max(kept, default=None)


def _headline(results: Mapping[str, Result | None]) -> str:
    lines: list[str] = []
    ingress = results.get("ingress")
    if ingress is not None:
        targets = _by_target(ingress["rows"])
        ours, theirs = targets.get("ingress", []), targets.get("inline baseline", [])
        pairs = {
            mine["offered_rps"]: (mine, base) for mine, base in zip(ours, theirs, strict=False)
        }
        # The gentlest rate, the highest ingress answered in full, and the hardest.
        chosen = sorted({min(pairs, default=0), _sustained(ours) or 0, max(pairs, default=0)})
        for rate in (rate for rate in chosen if rate in pairs):
            mine, base = pairs[rate]
            lines.append(
                f"Webhooks at {rate}/s: ingress p50 {mine['p50_ms']:,.1f} ms, p99 "
                f"{mine['p99_ms']:,.1f} ms; inline handler p50 {base['p50_ms']:,.1f} ms, p99 "
                f"{base['p99_ms']:,.1f} ms (inline/ingress p99 "
                f"{_times(base['p99_ms'], mine['p99_ms'])}). Web-process CPU per webhook: "
                f"ingress {mine['cpu_us_per_req']:,.0f} µs, inline {base['cpu_us_per_req']:,.0f} "
                f"µs ({_times(base['cpu_us_per_req'], mine['cpu_us_per_req'])})."
            )
        lines.append(
            f"Highest offered rate answered in full: ingress {_sustained(ours) or 'none'}/s, "
            f"inline handler {_sustained(theirs) or 'none'}/s (of those tried)."
        )
    e2e = results.get("e2e")
    if e2e is not None:
        for target, rows in _by_target(e2e["rows"]).items():
            parts = ", ".join(
                f"{row['phase']} p50/p95/p99 {row['p50_ms']:,.0f}/{row['p95_ms']:,.0f}/"
                f"{row['p99_ms']:,.0f} ms ({row['replied']}/{row['messages']} replied)"
                for row in rows
            )
            cpu = statistics.mean(
                row["processes_cpu_us_per_msg"]
                + _number(row["broker_cpu_us_per_msg"])
                + _number(row["db_cpu_us_per_msg"])
                for row in rows
            )
            servers_measured = all(
                not math.isnan(float(row[key]))
                for row in rows
                for key in ("broker_cpu_us_per_msg", "db_cpu_us_per_msg")
            )
            where = "all processes and servers" if servers_measured else "the processes only"
            operations = statistics.mean(_number(row.get("db_ops_per_msg")) for row in rows)
            lines.append(
                f"Webhook → Twilio call, {target}, at {e2e['context'].get('rate')}/s: {parts}; "
                f"per message, net of idle: {cpu:,.0f} µs of CPU in {where}, "
                f"{operations:.1f} database operations."
            )
        steps = e2e["context"].get("capacity") or []
        if steps:
            kept = {
                target: highest_kept_up(steps, target)
                for target in dict.fromkeys(row["target"] for row in steps)
            }
            lines.append(
                "Highest rate the whole path kept up (p99 < 1 s, backlog drained in 10 s): "
                + ", ".join(f"{target} {rate or 'none'}/s" for target, rate in kept.items())
                + " (of the stepped rates tried)."
            )
    worker = results.get("sms_inbound")
    if worker is not None and worker["context"].get("ratios"):
        ratios = worker["context"]["ratios"]
        speed = [r["msgs/s givecare/faststream"] for r in ratios]
        cpu_ratios = [r["cpu/msg faststream/givecare"] for r in ratios]
        trips = {r["db trips/msg givecare/faststream"] for r in ratios}
        lines.append(
            f"Inbound worker, product runtime against FastStream on the same handlers: events/s "
            f"ratio median {statistics.median(speed):.2f} (range {min(speed):.2f} to "
            f"{max(speed):.2f}), CPU per event ratio median {statistics.median(cpu_ratios):.2f}; "
            f"database round trips per event ratio "
            f"{', '.join(f'{t:.2f}' for t in sorted(trips))}."
        )
    scheduler = results.get("scheduler")
    if scheduler is not None and len(scheduler["rows"]) > 1:
        first, last = scheduler["rows"][0], scheduler["rows"][-1]
        lines.append(
            f"Scheduler: {_times(last['users'], first['users'])} the users costs "
            f"{_times(last['tick_s'], first['tick_s'])} the tick time (due users scale with "
            f"them) and {_times(last['idle_tick_ms'], first['idle_tick_ms'])} the idle tick."
        )
    migrations = results.get("migrations")
    if migrations is not None:
        for kind in ("backfill", "cleanup"):
            best = max(
                (r for r in migrations["rows"] if _migration_kind(r["migration"]) == kind),
                key=lambda r: float(r["docs/s"]),
                default=None,
            )
            if best is not None:
                lines.append(
                    f"Migrations, best {kind}: {best['docs/s']:,.0f} source documents/s "
                    f"({best['migration']}, batch {best['batch']}), {best['vs original']} the "
                    "original system's rate."
                )
    return "\n".join(f"* {line}" for line in lines) or "_No results yet: run `make bench`._"


def _migration_kind(migration_id: str) -> str:
    return "cleanup" if migration_id in _CLEANUPS else "backfill"


def _number(value: Any) -> float:
    """A CPU figure, with NaN (servers not started by the benchmark) counted as zero."""
    return 0.0 if not isinstance(value, int | float) or math.isnan(value) else float(value)


SECTIONS: dict[str, tuple[str | None, Callable[..., str]]] = {
    "headline": (None, _headline),
    "runs": (None, _runs),
    "ingress": ("ingress", _ingress),
    "e2e": ("e2e", _e2e),
    "capacity": ("e2e", _capacity),
    "worker": ("sms_inbound", _worker),
    "sender": ("sms_sender", _plain),
    "scheduler": ("scheduler", _plain),
    "migrations": ("migrations", _plain),
}
_BLOCK = re.compile(
    r"(<!-- bench:(?P<name>[a-z0-9_]+) -->\n)(.*?)(<!-- /bench:(?P=name) -->)", re.S
)


def render(text: str, results: Mapping[str, Result | None]) -> str:
    """`text` with every generated block replaced by the current figures."""

    def block(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in SECTIONS:
            raise ValueError(f"docs/performance.md has an unknown block {name!r}")
        benchmark, build = SECTIONS[name]
        if benchmark is None:
            body = build(results)
        else:
            result = results.get(benchmark)
            body = _missing(benchmark) if result is None else build(result)
        return f"{match.group(1)}{body}\n{match.group(4)}"

    return _BLOCK.sub(block, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--document", type=Path, default=DOCUMENT)
    document = parser.parse_args().document
    results = {name: read_result(name) for name in BENCHMARKS}
    document.write_text(render(document.read_text(), results))
    print(f"updated {document} from {sum(r is not None for r in results.values())} results")


if __name__ == "__main__":
    main()
