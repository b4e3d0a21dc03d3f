"""`make run PROMETHEUS=1`: the Prometheus beside the local services scrapes each of them on the
port `make run` gives it and loads the production alert rules — a configuration the real
Prometheus tooling (`promtool check config`) accepts, rules included."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from services.devtools.local_prometheus import RULES, prometheus_config, prometheus_spec
from services.devtools.system import development_setup
from tests.support.monitoring import RULES as MONITORING_RULES
from tests.support.monitoring import promtool
from tests.unit.devtools.test_local_run import URLS


@pytest.fixture(autouse=True)
def _here(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no developer's .env


def test_every_service_is_a_target_and_the_rules_are_the_production_ones() -> None:
    setup = development_setup(URLS, free_ports=True)
    config = yaml.safe_load(prometheus_config(setup))
    assert config["rule_files"] == [str(RULES)]
    assert RULES == MONITORING_RULES
    (job,) = config["scrape_configs"]
    targets = {c["labels"]["service"]: c["targets"] for c in job["static_configs"]}
    expected = {s.name: [f"127.0.0.1:{s.ops_port}"] for s in setup.specs if s.ops_port}
    assert targets == {**expected, "ingress": [f"127.0.0.1:{setup.ingress_port}"]}


def test_promtool_accepts_the_configuration(tmp_path: Path) -> None:
    spec = prometheus_spec(development_setup(URLS), tmp_path, port=9999)
    assert spec.command is not None
    assert spec.command[0].endswith("prometheus")
    assert "--web.listen-address=127.0.0.1:9999" in spec.args
    result = subprocess.run(
        [promtool(), "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout
