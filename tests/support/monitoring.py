"""The monitoring-as-code files (deploy/monitoring/) and the real Prometheus tooling that checks
them: Debian's `prometheus` package, which `make bootstrap` installs, ships `promtool`."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

MONITORING = Path(__file__).parents[2] / "deploy" / "monitoring"
RULES = MONITORING / "rules" / "givecare-alerts.yaml"
RULE_TESTS = MONITORING / "tests" / "givecare-alerts.test.yaml"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool comes with Debian's prometheus package; run make bootstrap")
    return found


def rule_groups(path: Path = RULES) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(path.read_text())["groups"]
    return groups


def alerts(path: Path = RULES) -> dict[str, dict[str, Any]]:
    """Every alerting rule, by name."""
    return {
        rule["alert"]: rule
        for group in rule_groups(path)
        for rule in group["rules"]
        if "alert" in rule
    }
