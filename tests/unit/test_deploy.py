"""The deployment files: the Dockerfile passes hadolint and the compose file wires every
service to a module that exists, with health checks and healthy dependencies."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).parents[2] / "deploy"


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(found).exists():
        pytest.fail("hadolint is a dev dependency; run make bootstrap")
    return found


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [_hadolint(), str(DEPLOY / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_runs_as_a_non_root_user_and_selects_the_service_by_command() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert text.count("FROM ") >= 2  # multi-stage: no build tools in the runtime image
    user_lines = [line for line in text.splitlines() if line.startswith("USER ")]
    assert user_lines
    assert user_lines[-1].split()[1].split(":")[0] not in ("root", "0")
    assert 'ENTRYPOINT ["python", "-m"]' in text


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return document


def test_every_application_service_runs_an_existing_module(compose: dict[str, Any]) -> None:
    apps = {name: s for name, s in compose["services"].items() if "command" in s and "build" in s}
    assert {"ingress", "sms-worker", "sms-sender", "billing-worker", "scheduler"} <= set(apps)
    for name, service in apps.items():
        module = service["command"][0]
        assert importlib.util.find_spec(f"{module}.__main__") or importlib.util.find_spec(module), (
            name
        )


def test_services_wait_for_healthy_dependencies_and_report_health(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert "healthcheck" in service, name
        if "build" in service:
            assert service["depends_on"] == {
                "rabbitmq": {"condition": "service_healthy"},
                "mongo": {"condition": "service_healthy"},
            }, name


def test_worker_ops_ports_do_not_collide(compose: dict[str, Any]) -> None:
    ports = [
        s["environment"]["OPS_PORT"]
        for s in compose["services"].values()
        if "OPS_PORT" in s.get("environment", {})
    ]
    assert len(ports) == len(set(ports)) == 4
