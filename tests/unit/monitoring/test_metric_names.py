"""Every metric an alert rule or a dashboard panel names exists in the code, with the labels
the query uses: a renamed metric or label would otherwise leave an alert that can never fire and
a panel that stays empty, silently. The metrics are the ones the services' modules declare with
prometheus_client (found by reading the sources), not a list kept by hand."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from services.devtools.monitoring import DASHBOARD
from tests.support.monitoring import alerts

ROOT = Path(__file__).parents[3]
_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "on", "without", "ignoring", "bool", "offset", "group_left"}
    | {"group_right", "inf", "nan"}
)
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
_GROUPING = re.compile(r"\b(?:by|on|without|ignoring)\s*\(([^)]*)\)")
_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}


def _metric_modules() -> Iterator[str]:
    for top in ("shared", "services"):
        for path in sorted((ROOT / top).rglob("*.py")):
            text = path.read_text()
            if "from prometheus_client import" in text and re.search(
                r"\b(Counter|Gauge|Histogram|Summary)\(", text
            ):
                yield ".".join(path.relative_to(ROOT).with_suffix("").parts)


def declared_metrics() -> dict[str, frozenset[str]]:
    """Every sample name the code's metrics can expose, with the labels each carries."""
    for module in _metric_modules():
        importlib.import_module(module)
    found: dict[str, frozenset[str]] = {}
    # prometheus_client keeps the collector of every registered name; no public accessor.
    for name, collector in REGISTRY._names_to_collectors.items():
        labels = frozenset(getattr(collector, "_labelnames", ()))
        found[name] = labels | ({"le"} if name.endswith("_bucket") else frozenset())
    return {
        name: labels
        for name, labels in found.items()
        if name.startswith("givecare_") and not name.endswith("_created")
    }


def metric_uses(expr: str) -> tuple[dict[str, set[str]], set[str]]:
    """The metrics `expr` reads, each with the labels its selectors match on, and the labels
    its `by`/`on` clauses group or join on."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors: [5m]
    metrics: dict[str, set[str]] = {}
    for name, matchers in _SELECTOR.findall(text):
        metrics.setdefault(name, set()).update(
            re.split(r"\s*[=!]", m.strip(), maxsplit=1)[0] for m in matchers.split(",") if m.strip()
        )
    grouping = {
        label.strip() for labels in _GROUPING.findall(text) for label in labels.split(",")
    } - {""}
    bare = _GROUPING.sub(" ", _SELECTOR.sub(lambda m: f" {m.group(1)} ", text))
    for match in _IDENTIFIER.finditer(bare):
        word = match.group(0)
        follows = bare[match.end() :].lstrip()[:1]
        if word.lower() in _KEYWORDS or follows == "(":
            continue  # an operator, a keyword or a function
        metrics.setdefault(word, set())
    return metrics, grouping


def _queries() -> list[tuple[str, str]]:
    rules = [(f"alert {name}", rule["expr"]) for name, rule in alerts().items()]
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [
        (f"panel {panel['title']}", target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
    return rules + panels


QUERIES = _queries()


def test_the_parser_finds_metrics_labels_and_groupings() -> None:
    metrics, grouping = metric_uses(
        'max by (queue) (a_metric{state="parked", x!~"y"}) > 0 unless on (queue) '
        "sum by (queue) (rate(b_total[5m])) > 0 or absent(c) and time() - d > 5 * 60"
    )
    assert metrics == {"a_metric": {"state", "x"}, "b_total": set(), "c": set(), "d": set()}
    assert grouping == {"queue"}


@pytest.mark.parametrize(("where", "expr"), QUERIES, ids=[where for where, _ in QUERIES])
def test_every_metric_and_label_a_query_uses_exists_in_the_code(where: str, expr: str) -> None:
    declared = declared_metrics()
    metrics, grouping = metric_uses(expr)
    assert metrics, f"{where}: no metric found in {expr!r}"
    for name, labels in metrics.items():
        assert name in declared, f"{where}: {name} is not declared by any service"
        assert labels <= declared[name], f"{where}: {name} has no label {labels - declared[name]}"
    available = set().union(*(declared[name] for name in metrics))
    assert grouping <= available, f"{where}: no metric of {expr!r} has {grouping - available}"


def test_the_declared_metrics_include_the_on_call_gauges() -> None:
    declared = declared_metrics()
    for name in (
        "givecare_crisis_alerts_open",
        "givecare_crisis_alert_oldest_open_age_seconds",
        "givecare_queue_messages",
        "givecare_outbox_backlog_rows",
        "givecare_outbox_oldest_pending_age_seconds",
        "givecare_sms_sends_total",
        "givecare_scheduler_last_tick_timestamp_seconds",
    ):
        assert name in declared, name
    assert declared["givecare_queue_messages"] == {"queue", "state"}
