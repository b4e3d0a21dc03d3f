"""The deployment files: the Dockerfile passes hadolint; the compose file matches the Compose
Specification's schema and wires every service to a module that exists, with its ops port, health
checks and healthy dependencies. (The Kubernetes manifests: test_k8s.py.)"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.devtools.system import SERVICES
from services.ingress.settings import IngressSettings
from tests.support.settings_catalog import setting_variables
from tests.support.tools import dev_tool

DEPLOY = Path(__file__).parents[2] / "deploy"


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [dev_tool("hadolint"), str(DEPLOY / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
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


def _compose_schema_check(path: Path) -> subprocess.CompletedProcess[str]:
    """The Compose Specification's JSON schema, as vendored by check-jsonschema (offline)."""
    return subprocess.run(
        [dev_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_compose_file_matches_the_compose_specification() -> None:
    result = _compose_schema_check(DEPLOY / "compose.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_schema_check_rejects_a_misspelt_field(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  app:\n    image: givecare:local\n    helthcheck: {}\n")
    result = _compose_schema_check(broken)
    assert result.returncode != 0
    assert "helthcheck" in result.stdout + result.stderr


def test_services_use_their_ops_ports_and_real_settings(compose: dict[str, Any]) -> None:
    variables = setting_variables()
    ingress_port = str(IngressSettings.model_fields["port"].default)
    by_module = {s["command"][0]: s for s in compose["services"].values() if "build" in s}
    for spec in SERVICES:
        service = by_module[spec.module]
        assert set(service["environment"]) <= set(variables), spec.name
        port = service["environment"].get("OPS_PORT", ingress_port)
        assert port == str(spec.ops_port or ingress_port), spec.name
        assert f"127.0.0.1:{port}/readyz" in " ".join(service["healthcheck"]["test"]), spec.name


def test_compose_defaults_are_real_settings() -> None:
    lines = (DEPLOY / "compose.env").read_text().splitlines()
    names = {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}
    assert names
    assert names <= set(setting_variables())
