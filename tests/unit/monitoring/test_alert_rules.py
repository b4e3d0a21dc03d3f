"""The alert rules, checked and unit-tested by the real Prometheus tooling (`promtool check
rules`, `promtool test rules` over deploy/monitoring/tests/): every alert fires when it should and
stays quiet when it should not — and the tests would notice if a rule always or never fired."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.monitoring import RULE_TESTS, RULES, alerts, promtool, rule_groups

DOCS = Path(__file__).parents[3] / "docs" / "monitoring.md"
ALERTS = sorted(alerts())


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, check=False, cwd=cwd, timeout=60
    )


def _tests() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    return cases


def test_the_rules_pass_promtool_check() -> None:
    result = _promtool("check", "rules", str(RULES), cwd=RULES.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {sum(len(g['rules']) for g in rule_groups())} rules found" in result.stdout


def test_the_rules_pass_their_unit_tests() -> None:
    result = _promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_alerts_are_the_ones_on_call_needs() -> None:
    assert (
        sorted(
            [
                "CrisisAlertUnacknowledged",
                "DeadLetterQueueNotEmpty",
                "OutboxBacklogStale",
                "ConsumerStalled",
                "SmsSendFailureRatioHigh",
                "SchedulerStalled",
                "IngressWebhook5xx",
            ]
        )
        == ALERTS
    )


def test_every_alert_has_a_case_where_it_fires_and_one_where_it_stays_quiet() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in _tests():
        for check in case["alert_rule_test"]:
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert firing == set(ALERTS)
    assert quiet == set(ALERTS)


@pytest.mark.parametrize("alert", ALERTS)
@pytest.mark.parametrize(
    ("broken", "expr"),
    [("always fires", "vector(1)"), ("never fires", "vector(0) > 1")],
)
def test_the_unit_tests_catch_a_rule_that(
    alert: str, broken: str, expr: str, tmp_path: Path
) -> None:
    """Replace one alert's expression and run the unit tests again: they must fail."""
    del broken  # the case's name
    groups = copy.deepcopy(rule_groups())
    for group in groups:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                rule["expr"] = expr
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "rules" / RULES.name).write_text(yaml.safe_dump({"groups": groups}))
    shutil.copy(RULE_TESTS, tmp_path / "tests" / RULE_TESTS.name)
    result = _promtool("test", "rules", RULE_TESTS.name, cwd=tmp_path / "tests")
    assert result.returncode != 0, result.stdout
    assert alert in result.stdout + result.stderr


def test_every_alert_is_documented_with_its_first_response() -> None:
    headings = {
        match.group(1)
        for match in re.finditer(r"^### (\w+)$", DOCS.read_text(), flags=re.MULTILINE)
    }
    for name, rule in alerts().items():
        assert name in headings, name
        assert rule["annotations"]["runbook"] == f"docs/monitoring.md#{name.lower()}"
        assert rule["labels"]["severity"] in {"page", "ticket"}
