"""`make run PROMETHEUS=1`: Debian's Prometheus (the package `make bootstrap` installs for
promtool) beside the services, scraping each one's /metrics and evaluating the same alert rules
as production (deploy/monitoring/rules/givecare-alerts.yaml), so a developer sees the graphs and
alerts on-call sees: http://127.0.0.1:9090 (Graph, Alerts)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Final

import yaml

from services.devtools.system import DevelopmentSetup, ServiceSpec

RULES: Final = (
    Path(__file__).parents[2] / "deploy" / "monitoring" / "rules" / "givecare-alerts.yaml"
)
PROMETHEUS_PORT: Final = 9090


def prometheus_config(setup: DevelopmentSetup) -> str:
    """Every local service as a target of one job, with the service's name as a label."""
    targets = [
        {
            "targets": [f"127.0.0.1:{spec.ops_port or setup.ingress_port}"],
            "labels": {"service": spec.name},
        }
        for spec in setup.specs
        if spec.ops_port is not None or spec.name == "ingress"
    ]
    config = {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": "givecare", "metrics_path": "/metrics", "static_configs": targets}
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def prometheus_spec(
    setup: DevelopmentSetup, base: Path, port: int = PROMETHEUS_PORT
) -> ServiceSpec:
    """Writes the configuration under `base` and returns the process to start."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise SystemExit("PROMETHEUS=1 needs Debian's prometheus package: run make bootstrap")
    config = base / "prometheus.yml"
    config.write_text(prometheus_config(setup))
    return ServiceSpec(
        "prometheus",
        "",
        None,
        (
            f"--config.file={config}",
            f"--storage.tsdb.path={base / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=2d",
        ),
        command=(binary,),
    )
