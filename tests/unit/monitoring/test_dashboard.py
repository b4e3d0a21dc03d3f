"""The Grafana dashboard and the PrometheusRule are generated (`python -m
services.devtools.monitoring`, with Grafana's Foundation SDK for the dashboard): the committed
files are exactly what the generator writes today, and the dashboard is one page with the panels
on-call needs."""

from __future__ import annotations

import json

import yaml

from services.devtools.monitoring import (
    DASHBOARD,
    DASHBOARD_UID,
    PROMETHEUS_RULE,
    dashboard_json,
    main,
    prometheus_rule_yaml,
)
from tests.support.monitoring import rule_groups


def test_the_committed_files_are_what_the_generator_writes() -> None:
    assert DASHBOARD.read_bytes() == dashboard_json().encode()
    assert PROMETHEUS_RULE.read_bytes() == prometheus_rule_yaml().encode()
    assert main(["--check"]) == 0


def test_the_prometheus_rule_carries_the_rule_file_unchanged() -> None:
    rule = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert rule["spec"]["groups"] == rule_groups()


def test_the_dashboard_is_one_page_of_the_topics_on_call_needs() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == DASHBOARD_UID
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    assert all(not p.get("collapsed") for p in panels if p["type"] == "row")
    # One screen: nothing below two screenfuls of grid units (about 30 units each).
    assert max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels) <= 60
    for p in panels:
        assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24, p["title"]
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in ("messages in and out", "latency", "crisis alert", "queues", "sends"):
        assert topic in titles, topic
    assert [v["name"] for v in board["templating"]["list"]] == ["datasource"]
