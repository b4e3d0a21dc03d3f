"""`python -m bench.plots`: the figures of docs/performance.md, drawn from `.local/bench/*.json`.

One PNG per question the report answers, written to `docs/perf/`; a benchmark without a result
here is skipped (and its old figure left alone), so plots can be redrawn after any one run.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bench.report import read_result

PLOTS_DIR = Path("docs/perf")
Result = dict[str, Any]


def _figure(columns: int = 1) -> tuple[Figure, list[Axes]]:
    # Figures without pyplot: no global state, no display; savefig renders with Agg.
    figure = Figure(figsize=(6.4 * columns, 4.2))
    axes = figure.subplots(1, columns, squeeze=False)
    return figure, list(axes[0])


def _ingress_latency(result: Result) -> Figure:
    figure, (axis,) = _figure()
    by_target: dict[str, list[Result]] = defaultdict(list)
    for row in result["rows"]:
        by_target[row["target"]].append(row)
    for target, rows in by_target.items():
        rates = [row["offered_rps"] for row in rows]
        line = axis.plot(rates, [row["p50_ms"] for row in rows], marker="o", label=f"{target} p50")
        axis.plot(
            rates,
            [row["p99_ms"] for row in rows],
            marker="^",
            linestyle="--",
            color=line[0].get_color(),
            label=f"{target} p99",
        )
    axis.set(
        xlabel="offered load (webhooks/s)",
        ylabel="webhook answered after (ms, log)",
        yscale="log",
        title="Webhook latency: ingress vs inline handler",
    )
    axis.legend()
    axis.grid(alpha=0.3)
    return figure


def _ingress_cpu(result: Result) -> Figure:
    figure, (axis,) = _figure()
    rows = result["rows"]
    labels = [f"{row['target']}\n{row['offered_rps']}/s" for row in rows]
    bottom = [0.0] * len(rows)
    parts = (
        ("cpu_us_per_req", "web process"),
        ("broker_cpu_us_per_req", "RabbitMQ"),
        ("db_cpu_us_per_req", "database server"),
    )
    for key, name in parts:
        values = [float(row.get(key) or 0.0) for row in rows]
        values = [0.0 if value != value else value for value in values]  # NaN: no local server
        axis.bar(labels, values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axis.set(ylabel="CPU µs per webhook", title="CPU per webhook, until answered")
    axis.tick_params(axis="x", labelsize=7)
    axis.legend()
    axis.grid(axis="y", alpha=0.3)
    return figure


def _e2e_latency(result: Result) -> Figure:
    figure, (axis,) = _figure()
    for row in result["rows"]:
        latencies = row.get("latencies_ms") or []
        if not latencies:
            continue
        shares = [(n + 1) / len(latencies) for n in range(len(latencies))]
        axis.plot(latencies, shares, label=f"{row['target']}: {row['phase']}")
    axis.set(
        xlabel="webhook sent → Twilio create received (ms, log)",
        ylabel="share of messages",
        xscale="log",
        title=f"End to end at {result['context'].get('rate')} messages/s",
    )
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    return figure


def _capacity(result: Result) -> Figure:
    """Latency against offered rate, each target's steps (the last is the one that did not
    keep up), and the system's database commands per message by service at each step."""
    steps = result["context"].get("capacity") or []
    figure, (latency, commands) = _figure(2)
    for target in dict.fromkeys(row["target"] for row in steps):
        rows = [row for row in steps if row["target"] == target]
        rates = [row["offered_rps"] for row in rows]
        for key, style in (("p50_ms", "o-"), ("p99_ms", "s--")):
            # An unanswered percentile (None) is drawn at the top of the scale.
            values = [row[key] if row[key] is not None else 60_000.0 for row in rows]
            latency.plot(rates, values, style, label=f"{target} {key.removesuffix('_ms')}")
    latency.axhline(1000, linestyle=":", color="grey")
    latency.annotate("keeps up below", (0.01, 1000), xycoords=("axes fraction", "data"))
    latency.set(
        xlabel="offered messages/s (log)",
        ylabel="webhook → Twilio create, ms (log)",
        xscale="log",
        yscale="log",
        title="Capacity: stepped open-loop rates",
    )
    offered = sorted({row["offered_rps"] for row in steps})
    latency.set_xticks(offered, labels=[f"{rate:g}" for rate in offered])
    latency.minorticks_off()
    latency.legend(fontsize=7)
    latency.grid(alpha=0.3)
    system = [row for row in steps if row["target"] == "system"]
    services = list(dict.fromkeys(s for row in system for s in row["commands_by_service"]))
    labels = [f"{row['offered_rps']:g}/s" for row in system]
    bottom = [0.0] * len(system)
    for service in services:
        values = [float(row["commands_by_service"].get(service) or 0.0) for row in system]
        commands.bar(labels, values, bottom=bottom, label=service)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    commands.set(ylabel="database commands per message", title="Where the round trips go")
    commands.legend(fontsize=7)
    commands.grid(axis="y", alpha=0.3)
    return figure


def _worker_runtimes(result: Result) -> Figure:
    modes = list(dict.fromkeys(row["mode"] for row in result["rows"]))
    figure, axes = _figure(len(modes))
    for axis, mode in zip(axes, modes, strict=True):
        rows = [row for row in result["rows"] if row["mode"] == mode]
        scenarios = list(dict.fromkeys(row["scenario"] for row in rows))
        runtimes = list(dict.fromkeys(row["runtime"] for row in rows))
        width = 0.8 / max(1, len(runtimes))
        for index, runtime in enumerate(runtimes):
            rates = {
                row["scenario"]: row["msgs_per_s"] for row in rows if row["runtime"] == runtime
            }
            positions = [n + index * width for n in range(len(scenarios))]
            axis.bar(positions, [rates.get(s, 0.0) for s in scenarios], width, label=runtime)
        axis.set_xticks([n + width * (len(runtimes) - 1) / 2 for n in range(len(scenarios))])
        axis.set_xticklabels(scenarios, rotation=15, fontsize=7)
        axis.set(ylabel="events/s, one process", title=f"Inbound worker ({mode})")
        axis.legend()
        axis.grid(axis="y", alpha=0.3)
    return figure


def _scheduler(result: Result) -> Figure:
    figure, (axis,) = _figure()
    rows = result["rows"]
    users = [row["users"] for row in rows]
    axis.plot(users, [row["tick_s"] * 1000 for row in rows], marker="o", label="tick, 1% due")
    axis.plot(users, [row["idle_tick_ms"] for row in rows], marker="s", label="idle tick")
    axis.set(
        xlabel="users (log)",
        ylabel="ms (log)",
        xscale="log",
        yscale="log",
        title="Scheduler tick against population",
    )
    axis.legend()
    axis.grid(alpha=0.3)
    return figure


def _migrations(result: Result) -> Figure:
    figure, (axis,) = _figure()
    by_migration: dict[str, list[Result]] = defaultdict(list)
    for row in result["rows"]:
        by_migration[row["migration"]].append(row)
    for migration, rows in by_migration.items():
        axis.plot(
            [row["batch"] for row in rows],
            [row["docs/s"] for row in rows],
            marker="o",
            label=migration,
        )
    for kind, value in (result["context"].get("baselines") or {}).items():
        axis.axhline(value, linestyle=":", color="grey")
        axis.annotate(f"original {kind}", (0.01, value), xycoords=("axes fraction", "data"))
    axis.set(
        xlabel="batch size",
        ylabel="source documents/s (log)",
        yscale="log",
        title="Migrations",
    )
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    return figure


# file name → (benchmark whose JSON it reads, how it is drawn)
PLOTS: dict[str, tuple[str, Callable[[Result], Figure]]] = {
    "ingress_latency.png": ("ingress", _ingress_latency),
    "ingress_cpu.png": ("ingress", _ingress_cpu),
    "e2e_latency.png": ("e2e", _e2e_latency),
    "e2e_capacity.png": ("e2e", _capacity),
    "worker_runtimes.png": ("sms_inbound", _worker_runtimes),
    "scheduler_tick.png": ("scheduler", _scheduler),
    "migrations.png": ("migrations", _migrations),
}


def draw(output: Path = PLOTS_DIR) -> list[Path]:
    """Every plot whose benchmark has a result; the files written."""
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, (benchmark, plot) in PLOTS.items():
        result = read_result(benchmark)
        if result is None:
            print(f"skipped {file_name}: no {benchmark}.json yet")
            continue
        figure = plot(result)
        figure.tight_layout()
        path = output / file_name
        figure.savefig(path, dpi=110)
        written.append(path)
        print(f"wrote {path}")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=PLOTS_DIR)
    draw(parser.parse_args().output)


if __name__ == "__main__":
    main()
