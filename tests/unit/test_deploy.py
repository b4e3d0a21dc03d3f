"""The deployment files: the Dockerfile passes hadolint; the compose file matches the Compose
Specification's schema and wires every service to a module that exists, with its ops port, health
checks and healthy dependencies. (The Kubernetes manifests: test_k8s.py.)"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from services.devtools import compose_env
from services.devtools.system import SERVICES
from services.ingress.settings import IngressSettings
from services.queues import CONSUMER_QUEUES
from shared.config import MigrationSettings, MongoSettings
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


# --- least privilege under compose --------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")
# What compose itself may take from the environment besides the credentials.
_OTHER_VARIABLES = {"PUBLIC_BASE_URL"}


def _interpolated(text: str, values: dict[str, str]) -> str:
    """Compose's interpolation, enough for this file: `${NAME...}` → value, `$$` → `$`."""
    return _VARIABLE.sub(lambda m: values.get(m.group(1), ""), text).replace("$$", "$")


def _apps(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["command"][0]: s for s in compose["services"].values() if "build" in s}


def test_every_published_port_is_bound_to_loopback(compose: dict[str, Any]) -> None:
    published = [
        (name, port) for name, s in compose["services"].items() for port in s.get("ports", [])
    ]
    assert len(published) >= 4
    for name, port in published:
        assert isinstance(port, str), name
        assert port.startswith("127.0.0.1:"), (name, port)


def test_credentials_come_from_deploy_env_and_the_example_is_generated() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    used = set(_VARIABLE.findall(text))
    assert used - _OTHER_VARIABLES == set(compose_env.credentials())
    assert compose_env.main(["--check"]) == 0
    example = (DEPLOY / ".env.example").read_text()
    assert all(f"\n{name}=change-me\n" in example for name in compose_env.credentials())
    generated = compose_env.generated()
    values = dict(line.split("=", 1) for line in generated.splitlines() if "=" in line)
    assert set(values) == set(compose_env.credentials())
    assert len(set(values.values())) == len(values)  # random, each its own
    assert all(re.fullmatch(r"[0-9a-f]{48}", value) for value in values.values())


@pytest.fixture(scope="module")
def definitions(compose: dict[str, Any]) -> dict[str, Any]:
    """RabbitMQ's definitions as the broker would read them (credentials filled in)."""
    content = compose["configs"]["rabbitmq-definitions"]["content"]
    values = {name: f"pw-{name.lower()}" for name in compose_env.credentials()}
    document: dict[str, Any] = json.loads(_interpolated(content, values))
    return document


def _url_user(url: str) -> tuple[str | None, str]:
    values = {name: f"pw-{name.lower()}" for name in compose_env.credentials()}
    parts = urlsplit(_interpolated(url, values))
    return parts.username, parts.password or ""


def test_each_service_has_its_own_broker_user_and_reads_only_its_queues(
    compose: dict[str, Any], definitions: dict[str, Any]
) -> None:
    users = {u["name"]: u for u in definitions["users"]}
    assert "guest" not in users
    assert all("administrator" not in u["tags"] for u in users.values())
    permissions = {p["user"]: p for p in definitions["permissions"]}
    everything = {
        name
        for queue in CONSUMER_QUEUES
        for name in (queue, f"{queue}.dlq", f"{queue}.retry.1", f"{queue}.retry.5")
    }
    apps = _apps(compose)
    assert set(apps) == {spec.module for spec in SERVICES}
    for spec in SERVICES:
        service = spec.module.removeprefix("services.")
        user, password = _url_user(apps[spec.module]["environment"]["RABBITMQ_URL"])
        assert user == service
        assert users[user]["password"] == password
        assert password == f"pw-{compose_env.broker_password(user).lower()}"
        allowed = permissions[user]
        for kind in ("configure", "write"):  # every service declares and binds the topology
            assert re.fullmatch(allowed[kind], "givecare.events"), (user, kind)
            assert all(re.fullmatch(allowed[kind], name) for name in everything), (user, kind)
            assert not re.fullmatch(allowed[kind], "amq.rabbitmq.log"), (user, kind)
        own = {n for n in everything if n.split(".")[0] == service}
        readable = {n for n in everything if re.fullmatch(allowed["read"], n)}
        if service == "ingress":  # the admin API lists and replays every parked event
            assert readable == everything
        else:
            assert own
            assert readable == own, service


def test_the_monitoring_user_only_monitors(definitions: dict[str, Any]) -> None:
    (monitoring,) = [u for u in definitions["users"] if u["name"] == "monitoring"]
    assert monitoring["tags"] == ["monitoring"]
    (allowed,) = [p for p in definitions["permissions"] if p["user"] == "monitoring"]
    for kind in ("configure", "write", "read"):
        assert allowed[kind] == "^$"


def _mongo_users() -> dict[str, dict[str, list[str]]]:
    script = (DEPLOY / "mongo" / "init-users.js").read_text()
    table = script.split("const USERS = ", 1)[1].split(";\n", 1)[0]
    users: dict[str, dict[str, list[str]]] = json.loads(table)
    return users


def test_each_service_has_its_own_database_user_with_readwrite_on_its_own_database_only(
    compose: dict[str, Any],
) -> None:
    users = _mongo_users()
    mongo = MongoSettings()
    mongo_env = compose["services"]["mongo"]["environment"]
    assert mongo_env["MONGO_INITDB_ROOT_USERNAME"] == "root"
    for spec in SERVICES:
        service = spec.module.removeprefix("services.")
        url = _apps(compose)[spec.module]["environment"]["MONGODB_URL"]
        user, _ = _url_user(url)
        assert user == service
        assert "authSource=admin" in url
        assert compose_env.database_password(user) in mongo_env  # its password reaches init
        own = mongo.database_name(service)
        if service == "ingress":
            # It also serves the admin API: the admin's database, and reads through views.
            assert users[user]["readWrite"] == [own, mongo.database_name("admin")]
            assert set(users[user]["read"]) == {
                mongo.database_name("sms_worker"),
                mongo.database_name("sms_sender"),
                mongo.database_name("billing_worker"),
                MigrationSettings().state_db,
            }
        else:
            assert users[user] == {"readWrite": [own], "read": []}
    assert set(users) == {spec.module.removeprefix("services.") for spec in SERVICES}
