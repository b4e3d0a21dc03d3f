"""The Kubernetes manifests: both overlays render with the real kustomize (`kubectl kustomize`)
and every object validates offline against the Kubernetes schemas (KEDA's and the Prometheus
Operator's objects against the models generated from their CRDs). Then the rules no schema
knows: each service runs its module with probes on its ops port, pods are locked down,
autoscalers watch the queues the code consumes, Prometheus scrapes every service, settings exist
and secrets stay out of ConfigMaps."""

from __future__ import annotations

import base64
import copy
import functools
import ipaddress
import json
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pydantic
import pytest
import typer.main
import yaml
from cloudcoil.models.keda import v1alpha1 as keda
from cloudcoil.models.prometheus_operator import v1 as prometheus_operator

from services.billing_worker.queues import REQUESTS as BILLING_REQUESTS
from services.billing_worker.queues import STRIPE
from services.cli.migrations import migrations_cli
from services.devtools.system import SERVICES
from services.ingress.settings import IngressSettings, WebhookSettings
from services.migrations.registry import known_migrations
from services.queues import CONSUMER_QUEUES
from services.scheduler.queues import EVENTS as SCHEDULER_EVENTS
from services.sms_sender.queues import EVENTS as SENDER_EVENTS
from services.sms_worker.queues import QUEUES as SMS_WORKER_QUEUES
from shared.clock import SystemClock
from shared.config import MigrationSettings, MongoSettings
from tests.support.monitoring import rule_groups
from tests.support.settings_catalog import setting_variables
from tests.support.tools import dev_tool

K8S = Path(__file__).parents[2] / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
# The oldest Kubernetes the manifests support (docs/deploy.md), and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.31", ".".join(kubernetes_validate.latest_version().split(".")[:2]))

# The queues each service consumes, as the code declares them.
CONSUMED_QUEUES = {
    "services.sms_worker": {queue.name for queue in SMS_WORKER_QUEUES},
    "services.sms_sender": {SENDER_EVENTS.name},
    "services.billing_worker": {STRIPE.name, BILLING_REQUESTS.name},
    "services.scheduler": {SCHEDULER_EVENTS.name},
}
CONFIG = "givecare-config"
# The ingress classes of the internet-facing controller and of the internal one (private load
# balancer) in front of /admin, and the namespace the internal one runs in.
PUBLIC_CLASS = "nginx"
INTERNAL_CLASS = "nginx-internal"
INTERNAL_CONTROLLER = "ingress-nginx-internal"

Object = dict[str, Any]


@dataclass(frozen=True)
class Manifests:
    """One overlay, rendered."""

    overlay: str
    objects: list[Object]

    def of_kind(self, kind: str) -> dict[str, Object]:
        return {o["metadata"]["name"]: o for o in self.objects if o["kind"] == kind}

    def generated(self, kind: str, name: str) -> Object | None:
        """The object a kustomize generator made as `name` (named `name-<content hash>`)."""
        found = [o for n, o in self.of_kind(kind).items() if n.rsplit("-", 1)[0] == name]
        assert len(found) <= 1
        return found[0] if found else None

    def config(self) -> dict[str, str]:
        config_map = self.generated("ConfigMap", CONFIG)
        assert config_map is not None
        return dict(config_map["data"])

    def by_module(self) -> dict[str, Object]:
        """The Deployment of each GiveCare service, by the module its container runs."""
        return {
            _container(d)["args"][0]: d
            for d in self.of_kind("Deployment").values()
            if _container(d).get("args", [""])[0].startswith("services.")
        }

    def pods(self) -> dict[str, Object]:
        """Every GiveCare workload (the services and the migrate Job), by name."""
        jobs = self.of_kind("Job")
        return {**{d["metadata"]["name"]: d for d in self.by_module().values()}, **jobs}


def _container(workload: Object) -> Object:
    containers: list[Object] = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


@functools.cache
def _render(overlay: str) -> Manifests:
    result = subprocess.run(
        [dev_tool("kubectl"), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return Manifests(overlay, [o for o in yaml.safe_load_all(result.stdout) if o])


@pytest.fixture(params=OVERLAYS)
def manifests(request: pytest.FixtureRequest) -> Manifests:
    return _render(request.param)


def _dropped(given: Any, kept: Any, path: str) -> list[str]:
    """The fields of `given` that a model did not keep: ones its schema does not have."""
    if isinstance(given, dict) and isinstance(kept, dict):
        return [
            missing
            for key, value in given.items()
            for missing in (
                [f"{path}.{key}"]
                if key not in kept
                else _dropped(value, kept[key], f"{path}.{key}")
            )
        ]
    if isinstance(given, list) and isinstance(kept, list):
        return [
            missing
            for index, (item, kept_item) in enumerate(zip(given, kept, strict=True))
            for missing in _dropped(item, kept_item, f"{path}[{index}]")
        ]
    return []


# The CRDs' groups the manifests use, and the models generated from each project's CRDs.
CRD_MODELS: dict[str, ModuleType] = {"keda.sh": keda, "monitoring.coreos.com": prometheus_operator}


def _crd_errors(document: Object, models: ModuleType) -> list[str]:
    model = getattr(models, document["kind"], None)
    if not (isinstance(model, type) and issubclass(model, pydantic.BaseModel)):
        return [f"no schema for {document['apiVersion']} {document['kind']}"]
    if model.model_fields["api_version"].default != document["apiVersion"]:
        return [f"{document['kind']} is not served as {document['apiVersion']}"]
    try:
        kept = model.model_validate(document).model_dump(
            by_alias=True, exclude_unset=True, mode="json"
        )
    except pydantic.ValidationError as error:
        return [str(error)]
    return [f"unknown field {field}" for field in _dropped(document, kept, "")]


def _schema_errors(document: Object, version: str) -> list[str]:
    """Why a cluster of `version` (with KEDA and the Prometheus Operator installed) would refuse
    `document`; strict, so an unknown or misspelt field is an error too."""
    group = document["apiVersion"].partition("/")[0]
    if group in CRD_MODELS:
        return _crd_errors(document, CRD_MODELS[group])
    try:
        kubernetes_validate.validate(document, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{'.'.join(str(part) for part in error.path)}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [error.message]
    return []


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_matches_its_schema(manifests: Manifests, version: str) -> None:
    errors = {
        f"{o['kind']}/{o['metadata']['name']}": _schema_errors(o, version)
        for o in manifests.objects
    }
    assert len(errors) >= 15
    assert {name: problems for name, problems in errors.items() if problems} == {}


def test_the_validation_rejects_what_a_cluster_would_refuse() -> None:
    objects = _render("prod")
    deployment = copy.deepcopy(objects.of_kind("Deployment")["ingress"])
    _container(deployment)["livenessprobe"] = _container(deployment).pop("livenessProbe")
    scaled = copy.deepcopy(objects.of_kind("ScaledObject")["sms-worker"])
    scaled["spec"]["maxReplicas"] = scaled["spec"].pop("maxReplicaCount")
    mistyped = copy.deepcopy(objects.of_kind("ScaledObject")["sms-worker"])
    mistyped["spec"]["minReplicaCount"] = "one"

    assert _schema_errors(deployment, KUBERNETES_VERSIONS[0])
    assert _schema_errors(scaled, KUBERNETES_VERSIONS[0]) == ["unknown field .spec.maxReplicas"]
    assert _schema_errors(mistyped, KUBERNETES_VERSIONS[0])
    assert _schema_errors({**deployment, "kind": "Deploymnet"}, KUBERNETES_VERSIONS[0])
    monitor = copy.deepcopy(objects.of_kind("PodMonitor")["givecare"])
    monitor["spec"]["podMetricEndpoints"] = monitor["spec"].pop("podMetricsEndpoints")
    assert _schema_errors(monitor, KUBERNETES_VERSIONS[0]) == [
        "unknown field .spec.podMetricEndpoints"
    ]
    rule = copy.deepcopy(objects.of_kind("PrometheusRule")["givecare-alerts"])
    rule["spec"]["groups"][0]["rules"][0]["for"] = 15
    assert _schema_errors(rule, KUBERNETES_VERSIONS[0])
    assert _schema_errors({**rule, "apiVersion": "monitoring.coreos.com/v2"}, "1.31")


def test_prometheus_scrapes_every_service_and_loads_the_alert_rules(manifests: Manifests) -> None:
    (monitor,) = manifests.of_kind("PodMonitor").values()
    selector = monitor["spec"]["selector"]["matchLabels"]
    ports = {endpoint["port"] for endpoint in monitor["spec"]["podMetricsEndpoints"]}
    for deployment in manifests.by_module().values():
        pod = deployment["spec"]["template"]
        assert selector.items() <= pod["metadata"]["labels"].items()
        annotated = pod["metadata"]["annotations"]["prometheus.io/port"]
        scraped = [p for p in _container(deployment)["ports"] if p["name"] in ports]
        assert [str(p["containerPort"]) for p in scraped] == [annotated]
    (rule,) = manifests.of_kind("PrometheusRule").values()
    assert rule["spec"]["groups"] == rule_groups()


def test_each_service_runs_its_module_with_probes_on_its_ops_port(manifests: Manifests) -> None:
    deployments = manifests.by_module()
    assert set(deployments) == {spec.module for spec in SERVICES}
    for spec in SERVICES:
        pod = deployments[spec.module]["spec"]["template"]
        container = _container(deployments[spec.module])
        port = spec.ops_port or IngressSettings.model_fields["port"].default
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        if spec.ops_port is not None:
            assert env["OPS_PORT"] == str(port), spec.name
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)
        for probe, path in (
            ("startupProbe", "/healthz"),
            ("livenessProbe", "/healthz"),
            ("readinessProbe", "/readyz"),
        ):
            assert container[probe]["httpGet"]["path"] == path, (spec.name, probe)
            assert ports[container[probe]["httpGet"]["port"]] == port, (spec.name, probe)


def test_every_pod_is_locked_down_and_sized(manifests: Manifests) -> None:
    pods = manifests.pods()
    assert "migrate" in pods
    for name, workload in pods.items():
        pod = workload["spec"]["template"]["spec"]
        container = _container(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }, name
        for bound in ("requests", "limits"):
            assert set(container["resources"][bound]) == {"cpu", "memory"}, (name, bound)


def test_each_deployment_has_a_disruption_budget_over_its_pods(manifests: Manifests) -> None:
    budgets = manifests.of_kind("PodDisruptionBudget").values()
    for module, deployment in manifests.by_module().items():
        labels = deployment["spec"]["template"]["metadata"]["labels"].items()
        selecting = [b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels]
        assert len(selecting) == 1, module


def test_ingress_scales_on_cpu_behind_its_service(manifests: Manifests) -> None:
    deployment = manifests.of_kind("Deployment")["ingress"]
    autoscaler = manifests.of_kind("HorizontalPodAutoscaler")["ingress"]
    service = manifests.of_kind("Service")["ingress"]
    assert "replicas" not in deployment["spec"]  # the autoscaler's to set
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == "ingress"
    assert [m["resource"]["name"] for m in autoscaler["spec"]["metrics"]] == ["cpu"]
    assert 1 <= autoscaler["spec"]["minReplicas"] <= autoscaler["spec"]["maxReplicas"]
    assert service["spec"]["selector"].items() <= (
        deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    port_names = {p["name"] for p in _container(deployment)["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names


def test_workers_scale_on_the_queues_they_consume(manifests: Manifests) -> None:
    prefix = manifests.config()["RABBITMQ_QUEUE_PREFIX"]
    deployments = manifests.of_kind("Deployment")
    scaled = manifests.of_kind("ScaledObject")
    watched: set[str] = set()
    for name, scaled_object in scaled.items():
        target = deployments[scaled_object["spec"]["scaleTargetRef"]["name"]]
        module = _container(target)["args"][0]
        queues = {t["metadata"]["queueName"] for t in scaled_object["spec"]["triggers"]}
        assert queues == {prefix + queue for queue in CONSUMED_QUEUES[module]}, name
        assert {t["type"] for t in scaled_object["spec"]["triggers"]} == {"rabbitmq"}
        assert scaled_object["spec"]["minReplicaCount"] >= 1, name  # workers relay outboxes
        assert "replicas" not in target["spec"], name  # KEDA's to set
        watched |= queues
    # Every consumer queue of the catalogue is watched, but the scheduler's: it is not scaled.
    assert watched == {prefix + q for q in CONSUMER_QUEUES if q != SCHEDULER_EVENTS.name}


def _secrets_of(workload: Object) -> set[str]:
    """Every Secret a workload's pod can read: envFrom, env references and volumes."""
    pod = workload["spec"]["template"]["spec"]
    names = set()
    for container in pod["containers"] + pod.get("initContainers", []):
        names |= {s["secretRef"]["name"] for s in container.get("envFrom", []) if "secretRef" in s}
        names |= {
            e["valueFrom"]["secretKeyRef"]["name"]
            for e in container.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})
        }
    for volume in pod.get("volumes", []):
        if "secret" in volume:
            names.add(volume["secret"]["secretName"])
        for source in volume.get("projected", {}).get("sources", []):
            if "secret" in source:
                names.add(source["secret"]["name"])
    return names


def _base_name(manifests: Manifests, name: str) -> str:
    """A Secret's name without the content hash kustomize adds to generated ones (dev)."""
    return name.rsplit("-", 1)[0] if manifests.overlay == "dev" else name


def test_no_pod_mounts_another_workloads_secret(manifests: Manifests) -> None:
    pods = manifests.pods()
    seen: dict[str, str] = {}
    for name, workload in pods.items():
        secrets = {_base_name(manifests, secret) for secret in _secrets_of(workload)}
        assert secrets == {f"givecare-{name}"}, name
        seen[f"givecare-{name}"] = name
    assert len(seen) == len(pods) == 6  # five services and the migrate Job, one Secret each


def test_keda_reads_queue_lengths_as_the_monitoring_user_from_its_own_secret(
    manifests: Manifests,
) -> None:
    auths = manifests.of_kind("TriggerAuthentication")
    mounted = {secret for w in manifests.pods().values() for secret in _secrets_of(w)}
    for scaled_object in manifests.of_kind("ScaledObject").values():
        for trigger in scaled_object["spec"]["triggers"]:
            # The management API, where the `monitoring` tag reads and changes nothing.
            assert trigger["metadata"]["protocol"] == "http"
            auth = auths[trigger["authenticationRef"]["name"]]
            (reference,) = auth["spec"]["secretTargetRef"]
            assert reference["parameter"] == "host"
            assert _base_name(manifests, reference["name"]) == "givecare-keda"
            assert reference["name"] not in mounted  # no service holds it


def test_the_scheduler_runs_one_replica_and_is_not_autoscaled(manifests: Manifests) -> None:
    scheduler = manifests.by_module()["services.scheduler"]
    assert scheduler["spec"]["replicas"] == 1
    targets = {
        s["spec"]["scaleTargetRef"]["name"] for s in manifests.of_kind("ScaledObject").values()
    }
    targets |= {
        h["spec"]["scaleTargetRef"]["name"]
        for h in manifests.of_kind("HorizontalPodAutoscaler").values()
    }
    assert scheduler["metadata"]["name"] not in targets


def test_settings_are_real_and_secrets_stay_out_of_the_config_map(manifests: Manifests) -> None:
    variables = setting_variables()
    config = manifests.config()
    assert set(config) - set(variables) == set()
    assert [name for name in config if variables[name]] == []
    config_map = manifests.generated("ConfigMap", CONFIG)
    assert config_map is not None
    for name, workload in manifests.pods().items():
        sources = _container(workload)["envFrom"]
        assert [s["configMapRef"]["name"] for s in sources if "configMapRef" in s] == [
            config_map["metadata"]["name"]
        ], name
        assert len([s for s in sources if "secretRef" in s]) == 1, name


def test_dev_generates_one_fake_secret_per_workload_with_its_own_broker_user() -> None:
    dev = _render("dev")
    variables = setting_variables()
    definitions_secret = dev.generated("Secret", "dev-rabbitmq")
    assert definitions_secret is not None
    definitions = json.loads(base64.b64decode(definitions_secret["data"]["definitions.json"]))
    users = {u["name"]: u for u in definitions["users"]}
    assert "guest" not in users
    assert all("administrator" not in u["tags"] for u in users.values())
    readable = {p["user"]: p["read"] for p in definitions["permissions"]}
    for name in dev.pods():
        secret = dev.generated("Secret", f"givecare-{name}")
        assert secret is not None, name
        data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        assert set(data) <= set(variables), name
        assert "MONGODB_URL" in data, name
        if name == "migrate":
            assert "RABBITMQ_URL" not in data  # the Job never talks to the broker
            continue
        broker = urlsplit(data["RABBITMQ_URL"])
        service = name.replace("-", "_")
        assert broker.username == service, name
        assert users[service]["password"] == broker.password, name
        # Qualified host names: KEDA's operator resolves them from its own namespace.
        assert broker.hostname == f"rabbitmq.{secret['metadata']['namespace']}.svc"
        if service != "ingress":  # the admin API in ingress lists every parked queue
            assert re.fullmatch(readable[service], f"{service}.x.dlq")
            others = [q for q in CONSUMER_QUEUES if not q.startswith(f"{service}.")]
            assert not any(re.fullmatch(readable[service], q) for q in others), name
    # The token ingress refuses to start without, and only ingress holds it.
    holders = [
        n
        for n in dev.pods()
        if "TWILIO_AUTH_TOKEN" in (dev.generated("Secret", f"givecare-{n}") or {}).get("data", {})
    ]
    assert holders == ["ingress"]
    keda = dev.generated("Secret", "givecare-keda")
    assert keda is not None
    host = urlsplit(base64.b64decode(keda["data"]["host"]).decode())
    assert host.scheme == "http"
    assert host.port == 15672
    assert host.username == "monitoring"
    assert users["monitoring"]["password"] == host.password
    assert users["monitoring"]["tags"] == ["monitoring"]


def _script_table(script: str, name: str) -> Any:
    """The JSON object a mongo init script assigns to `const <name>`."""
    return json.loads(script.split(f"const {name} = ", 1)[1].split(";\n", 1)[0])


def test_dev_mongo_requires_authentication_with_a_user_per_workload() -> None:
    """As in compose: a root user, and each workload its own user; a service's user may write
    its own database only (ingress also the admin's), the migrate Job's never ingress's or the
    admin's."""
    dev = _render("dev")
    mongo = MongoSettings()
    migrations = MigrationSettings()
    root = dev.generated("Secret", "dev-mongo")
    init = dev.generated("Secret", "dev-mongo-init")
    assert root is not None
    assert init is not None
    env = {k: base64.b64decode(v).decode() for k, v in root["data"].items()}
    scripts = {k: base64.b64decode(v).decode() for k, v in init["data"].items()}
    assert env["MONGO_INITDB_ROOT_USERNAME"] == "root"
    assert env["MONGO_INITDB_ROOT_PASSWORD"]
    # mongod's keyFile: 6 to 1024 base64 characters.
    assert re.fullmatch(r"[A-Za-z0-9+/=]{6,1024}", env["DB_REPLICA_SET_KEY"])

    server = dev.of_kind("Deployment")["mongo"]
    container = _container(server)
    assert [s["secretRef"]["name"] for s in container["envFrom"]] == [root["metadata"]["name"]]
    started = " ".join(container["command"])
    assert "--keyFile" in started
    assert "--noauth" not in started
    assert "$MONGO_INITDB_ROOT_PASSWORD" in " ".join(container["readinessProbe"]["exec"]["command"])
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in server["spec"]["template"]["spec"]["volumes"]}
    assert mounts["init"] == "/docker-entrypoint-initdb.d"
    assert volumes["init"]["secret"]["secretName"] == init["metadata"]["name"]

    # The services' users are compose's, from the same script.
    compose_script = (K8S.parent / "mongo" / "init-users.js").read_text()
    assert scripts["10-users.js"] == compose_script
    users: dict[str, dict[str, list[str]]] = _script_table(compose_script, "USERS")
    users["migrate"] = {**_script_table(scripts["20-migrate-user.js"], "MIGRATE"), "read": []}
    for name in users:
        assert f"DB_PASSWORD_{name.upper()}" in env, name  # its password reaches the scripts
    for name in dev.pods():
        secret = dev.generated("Secret", f"givecare-{name}")
        assert secret is not None, name
        url = urlsplit(base64.b64decode(secret["data"]["MONGODB_URL"]).decode())
        user = name.replace("-", "_")
        assert url.username == user, name
        assert url.password == env[f"DB_PASSWORD_{user.upper()}"], name
        assert "authSource=admin" in url.query.split("&"), name
        assert url.hostname == f"mongo.{secret['metadata']['namespace']}.svc", name
        writes = users[user]["readWrite"]
        if user == "migrate":
            assert {migrations.state_db, migrations.legacy_db} <= set(writes)
            assert not {mongo.database_name("admin"), mongo.database_name("ingress")} & set(writes)
        elif user == "ingress":
            assert writes == [mongo.database_name("ingress"), mongo.database_name("admin")]
        else:
            assert writes == [mongo.database_name(user)], name
    assert set(users) == {name.replace("-", "_") for name in dev.pods()}


def test_prod_uses_secrets_managed_outside_the_repository() -> None:
    prod = _render("prod")
    assert prod.of_kind("Secret") == {}
    for name, workload in prod.pods().items():
        sources = _container(workload)["envFrom"]
        assert {"secretRef": {"name": f"givecare-{name}"}} in sources, name


# --- the network ----------------------------------------------------------------------------------


def _selects(policy: Object, labels: dict[str, str]) -> bool:
    selector = policy["spec"]["podSelector"]
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def _pod_labels(workload: Object) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def test_the_network_is_closed_by_default(manifests: Manifests) -> None:
    policies = manifests.of_kind("NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {}
    assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny
    assert "egress" not in deny


def test_each_pod_may_receive_and_send_only_what_it_needs(manifests: Manifests) -> None:
    """Ingress: from the ingress controller and Prometheus on its port; workers: from
    Prometheus on their ops port; everyone out to DNS, the broker and the database only, the
    services (not the migration) to a trace collector in `monitoring` on 4318, and the three
    workers that call a provider out to public addresses on 443."""
    policies = list(manifests.of_kind("NetworkPolicy").values())
    callers = {"sms-worker", "sms-sender", "billing-worker"}
    for name, workload in manifests.pods().items():
        labels = _pod_labels(workload)
        applying = [p for p in policies if _selects(p, labels)]
        ingress_rules = [r for p in applying for r in p["spec"].get("ingress", [])]
        egress_rules = [r for p in applying for r in p["spec"].get("egress", [])]
        sources = {
            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            for rule in ingress_rules
            for peer in rule["from"]
        }
        ports = {p["port"] for rule in ingress_rules for p in rule["ports"]}
        container_ports = {p["containerPort"] for p in _container(workload).get("ports", [])}
        if name == "ingress":
            # Production also lets the internal controller in front of /admin reach it.
            internal = {INTERNAL_CONTROLLER} if manifests.overlay == "prod" else set()
            assert sources == {"ingress-nginx", "monitoring"} | internal
        elif name == "migrate":
            assert ingress_rules == []
        else:
            assert sources == {"monitoring"}, name
        assert container_ports <= ports or name == "migrate", name
        assert all(rule.get("from") for rule in ingress_rules), name  # never from anywhere
        out = {p["port"] for rule in egress_rules for p in rule["ports"]}
        expected = {53, 27017} | ({5672, 4318} if name != "migrate" else set())
        assert out == expected | ({443} if name in callers else set()), name
        for rule in egress_rules:
            for peer in rule.get("to", []):
                if "ipBlock" in peer:  # public addresses only
                    assert "10.0.0.0/8" in peer["ipBlock"]["except"], name
            if any(p["port"] == 4318 for p in rule["ports"]):  # the collector's namespace only
                assert [peer["namespaceSelector"]["matchLabels"] for peer in rule["to"]] == [
                    {"kubernetes.io/metadata.name": "monitoring"}
                ], name


def _public_ingress(prod: Manifests) -> Object:
    """The one Ingress of the internet-facing controller's class."""
    (ingress,) = [
        i for i in prod.of_kind("Ingress").values() if i["spec"]["ingressClassName"] == PUBLIC_CLASS
    ]
    return ingress


def test_prod_exposes_nothing_but_the_webhooks() -> None:
    """The rendered production overlay: one public Ingress, for /webhooks only (the other is the
    internal admin route, below); no Service reachable from outside the cluster; no pod on the
    host's network or ports."""
    prod = _render("prod")
    assert {i["spec"]["ingressClassName"] for i in prod.of_kind("Ingress").values()} == {
        PUBLIC_CLASS,
        INTERNAL_CLASS,
    }
    ingress = _public_ingress(prod)
    assert "defaultBackend" not in ingress["spec"]
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert [(p["path"], p["pathType"]) for p in paths] == [("/webhooks", "Prefix")]
    for name, service in prod.of_kind("Service").items():
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP", name
        assert "externalIPs" not in service["spec"], name
    for name, workload in prod.pods().items():
        pod = workload["spec"]["template"]["spec"]
        assert not pod.get("hostNetwork"), name
        assert all("hostPort" not in p for p in _container(workload).get("ports", [])), name


def test_twilio_is_told_the_public_address(manifests: Manifests) -> None:
    config = manifests.config()
    base = config["PUBLIC_BASE_URL"]
    assert config["TWILIO_STATUS_CALLBACK_URL"] == f"{base}/webhooks/twilio/status"


def test_prod_exposes_only_the_webhooks_at_the_public_address() -> None:
    prod = _render("prod")
    host = urlsplit(prod.config()["PUBLIC_BASE_URL"]).hostname
    ingress = _public_ingress(prod)
    service_ports = {p["name"] for p in prod.of_kind("Service")["ingress"]["spec"]["ports"]}
    assert [tls["hosts"] for tls in ingress["spec"]["tls"]] == [[host]]
    for rule in ingress["spec"]["rules"]:
        assert rule["host"] == host
        for path in rule["http"]["paths"]:
            assert path["path"] == "/webhooks"
            assert path["backend"]["service"]["name"] == "ingress"
            assert path["backend"]["service"]["port"]["name"] in service_ports


def test_the_public_ingress_is_rate_limited_and_refuses_large_bodies_first() -> None:
    prod = _render("prod")
    ingress = _public_ingress(prod)
    annotations = ingress["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/limit-rps"]) > 0
    assert int(annotations["nginx.ingress.kubernetes.io/limit-connections"]) > 0
    body = annotations["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert body.endswith("k")
    assert int(body[:-1]) * 1024 <= WebhookSettings().webhook_max_body_bytes
    # The controller's pods are the proxies ingress believes, and no one else is everyone.
    trusted = IngressSettings(forwarded_allow_ips=prod.config()["INGRESS_FORWARDED_ALLOW_IPS"])
    assert trusted.trusted_proxies


def test_the_admin_api_is_routed_inside_the_network_only() -> None:
    """/admin, for `givecare --api-url`, goes through an Ingress of the internal controller's
    class only: its own ClusterIP Service to the ingress pods, /admin and nothing else, on an
    internal host with TLS, from private addresses only; the NetworkPolicies let that controller
    (and no other namespace) reach the ingress pods."""
    prod = _render("prod")
    (admin,) = [
        i for i in prod.of_kind("Ingress").values() if i["spec"]["ingressClassName"] != PUBLIC_CLASS
    ]
    assert admin["spec"]["ingressClassName"] == INTERNAL_CLASS
    assert "defaultBackend" not in admin["spec"]
    public_host = urlsplit(prod.config()["PUBLIC_BASE_URL"]).hostname
    (rule,) = admin["spec"]["rules"]
    assert rule["host"] != public_host
    assert rule["host"].endswith(".internal")
    assert [tls["hosts"] for tls in admin["spec"]["tls"]] == [[rule["host"]]]
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/admin", "Prefix")
    sources = admin["metadata"]["annotations"]["nginx.ingress.kubernetes.io/whitelist-source-range"]
    assert all(ipaddress.ip_network(cidr).is_private for cidr in sources.split(","))

    backend = path["backend"]["service"]
    service = prod.of_kind("Service")[backend["name"]]
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    ingress_pods = prod.of_kind("Deployment")["ingress"]
    assert service["spec"]["selector"].items() <= _pod_labels(ingress_pods).items()
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] in {p["name"] for p in _container(ingress_pods)["ports"]}
    # The public Ingress routes nothing of the admin's.
    public = _public_ingress(prod)
    assert all(
        not p["path"].startswith("/admin")
        for r in public["spec"]["rules"]
        for p in r["http"]["paths"]
    )

    admitted = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for policy in prod.of_kind("NetworkPolicy").values()
        if _selects(policy, _pod_labels(ingress_pods))
        for rule in policy["spec"].get("ingress", [])
        for peer in rule["from"]
    }
    assert INTERNAL_CONTROLLER in admitted
    assert INTERNAL_CONTROLLER not in {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for policy in _render("dev").of_kind("NetworkPolicy").values()
        for rule in policy["spec"].get("ingress", [])
        for peer in rule["from"]
        if "namespaceSelector" in peer
    }


def test_the_migration_job_runs_the_migrations_cli(manifests: Manifests) -> None:
    job = manifests.of_kind("Job")["migrate"]
    container = _container(job)
    assert container["command"] == [
        "/bin/sh",
        "-c",
        "exec givecare migrations $MIGRATE_ARGS",
    ]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    source = manifests.generated("ConfigMap", "givecare-migrate")
    assert source is not None
    (variable,) = container["env"]
    assert variable["valueFrom"]["configMapKeyRef"] == {
        "name": source["metadata"]["name"],
        "key": "MIGRATE_ARGS",
    }
    # The arguments parse as a `givecare migrations` command, naming a migration that exists.
    verb, *rest = shlex.split(source["data"]["MIGRATE_ARGS"])
    group = typer.main.get_group(migrations_cli())
    command = group.get_command(typer.Context(group), verb)
    assert command is not None, verb
    migration_id = command.make_context(verb, rest).params.get("migration_id")
    if migration_id is not None:
        assert migration_id in known_migrations(MongoSettings(), MigrationSettings(), SystemClock())
