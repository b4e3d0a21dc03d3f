"""Writes (or with `--check`, verifies) the monitoring files generated from code:

* `deploy/monitoring/grafana/givecare.json`: the one-page Grafana dashboard (messages in and
  out, latency, crisis alerts, queues, sends), built with Grafana's own Foundation SDK
  (`grafana-foundation-sdk`, a dev dependency), so every panel is a typed builder and the JSON
  is what Grafana's schema expects;
* `deploy/monitoring/k8s/prometheus-rule.yaml`: the Prometheus Operator's PrometheusRule
  carrying `deploy/monitoring/rules/givecare-alerts.yaml` — the rule file stays the one source,
  checked and unit-tested by promtool.

    python -m services.devtools.monitoring          # regenerate
    python -m services.devtools.monitoring --check  # exit 1 if a committed file is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Final

import yaml
from grafana_foundation_sdk.builders.common import ReduceDataOptions
from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    DatasourceVariable,
    Row,
    ThresholdsConfig,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as TimeSeries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import BigValueColorMode, BigValueGraphMode
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    Threshold,
    ThresholdsMode,
)

ROOT: Final = Path(__file__).parents[2]
MONITORING: Final = ROOT / "deploy" / "monitoring"
RULES: Final = MONITORING / "rules" / "givecare-alerts.yaml"
DASHBOARD: Final = MONITORING / "grafana" / "givecare.json"
PROMETHEUS_RULE: Final = MONITORING / "k8s" / "prometheus-rule.yaml"

DASHBOARD_UID: Final = "givecare-overview"
_DATASOURCE: Final = DataSourceRef(type_val="prometheus", uid="${datasource}")
_WINDOW: Final = "5m"


def _query(expr: str, legend: str, ref: str = "A") -> Dataquery:
    return Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(_DATASOURCE)


def _series(title: str, unit: str, *queries: tuple[str, str], description: str) -> TimeSeries:
    panel = (
        TimeSeries()
        .title(title)
        .description(description)
        .datasource(_DATASOURCE)
        .unit(unit)
        .min(0)
        .height(8)
        .span(8)
    )
    for index, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_query(expr, legend, chr(ord("A") + index)))
    return panel


def _thresholds(red_from: float) -> ThresholdsConfig:
    return (
        ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(color="green", value=None), Threshold(color="red", value=red_from)])
    )


def _stat(title: str, unit: str, expr: str, red_from: float, *, description: str) -> Stat:
    return (
        Stat()
        .title(title)
        .description(description)
        .datasource(_DATASOURCE)
        .unit(unit)
        .thresholds(_thresholds(red_from))
        .graph_mode(BigValueGraphMode.AREA)
        .color_mode(BigValueColorMode.BACKGROUND)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]))
        .with_target(_query(expr, title))
        .height(4)
        .span(4)
    )


def dashboard() -> Dashboard:
    """The on-call page. Gauges every replica reports alike are aggregated with `max`, as in the
    alert rules; counters are summed over replicas."""
    w = _WINDOW
    return (
        Dashboard("GiveCare")
        .uid(DASHBOARD_UID)
        .description("Messages in and out, latency, crisis alerts, queues and sends.")
        .tags(["givecare"])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .with_variable(DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
        .with_row(Row("Now"))
        .with_panel(
            _stat(
                "Open crisis alerts",
                "short",
                "max(givecare_crisis_alerts_open)",
                1,
                description="Crisis alerts waiting for a human to acknowledge them.",
            )
        )
        .with_panel(
            _stat(
                "Oldest open crisis alert",
                "s",
                "max(givecare_crisis_alert_oldest_open_age_seconds)",
                15 * 60,
                description="Pages at 15 minutes (CrisisAlertUnacknowledged).",
            )
        )
        .with_panel(
            _stat(
                "Parked events",
                "short",
                'sum(max by (queue) (givecare_queue_messages{state="parked"}))',
                1,
                description="Events in the dead-letter queues (DeadLetterQueueNotEmpty).",
            )
        )
        .with_panel(
            _stat(
                "Oldest unpublished outbox row",
                "s",
                "max(givecare_outbox_oldest_pending_age_seconds)",
                60,
                description="Across every service's outbox (OutboxBacklogStale).",
            )
        )
        .with_panel(
            _stat(
                "Scheduler tick age",
                "s",
                "time() - max(givecare_scheduler_last_tick_timestamp_seconds)",
                5 * 60,
                description="Since the last completed tick of any replica (SchedulerStalled).",
            )
        )
        .with_panel(
            _stat(
                "Send failure ratio",
                "percentunit",
                f'sum(rate(givecare_sms_sends_total{{outcome=~"failed|permanently_failed"}}[{w}]))'
                f" / sum(rate(givecare_sms_sends_total"
                f'{{outcome=~"sent|resolved|failed|permanently_failed"}}[{w}]))',
                0.05,
                description="Final failures over final outcomes (SmsSendFailureRatioHigh).",
            )
        )
        .with_row(Row("Messages"))
        .with_panel(
            _series(
                "Messages in and out",
                "reqps",
                (
                    "sum(rate(givecare_ingress_webhook_duration_seconds_count"
                    f'{{endpoint="twilio_sms"}}[{w}]))',
                    "in (SMS webhooks)",
                ),
                (
                    f'sum(rate(givecare_sms_sends_total{{outcome=~"sent|resolved"}}[{w}]))',
                    "out (sent)",
                ),
                description="Inbound SMS webhooks received and outbound SMS sent, per second.",
            )
        )
        .with_panel(
            _series(
                "Latency (p95)",
                "s",
                (
                    "histogram_quantile(0.95, sum by (le) "
                    f"(rate(givecare_ingress_webhook_duration_seconds_bucket[{w}])))",
                    "webhook answer",
                ),
                (
                    "histogram_quantile(0.95, sum by (le, queue) "
                    f"(rate(givecare_handler_duration_seconds_bucket[{w}])))",
                    "handler {{queue}}",
                ),
                (
                    "histogram_quantile(0.95, sum by (le) "
                    f"(rate(givecare_twilio_request_seconds_bucket[{w}])))",
                    "Twilio call",
                ),
                description="Webhook request to answer, event handlers by queue, Twilio calls.",
            )
        )
        .with_panel(
            _series(
                "Webhook errors",
                "reqps",
                (
                    f"sum by (outcome) (rate(givecare_ingress_webhooks_total[{w}]))",
                    "{{outcome}}",
                ),
                description="Non-2xx webhook answers by status (5xx: IngressWebhook5xx).",
            )
        )
        .with_row(Row("Queues"))
        .with_panel(
            _series(
                "Waiting in queues",
                "short",
                ('max by (queue) (givecare_queue_messages{state="ready"})', "{{queue}}"),
                description="Messages ready for a consumer (ConsumerStalled when none moves).",
            )
        )
        .with_panel(
            _series(
                "Retrying and parked",
                "short",
                ('max by (queue) (givecare_queue_messages{state="retrying"})', "retry {{queue}}"),
                ('max by (queue) (givecare_queue_messages{state="parked"})', "parked {{queue}}"),
                description="In the retry delay queues, and in the dead-letter queues.",
            )
        )
        .with_panel(
            _series(
                "Events consumed",
                "ops",
                (
                    f"sum by (queue, outcome) (rate(givecare_events_consumed_total[{w}]))",
                    "{{queue}} {{outcome}}",
                ),
                description="By queue and outcome (handled, duplicate, retried, parked).",
            )
        )
        .with_panel(
            _series(
                "Outbox backlog",
                "short",
                ("max by (outbox) (givecare_outbox_backlog_rows)", "{{outbox}}"),
                description="Rows committed and not yet published, by service.",
            )
        )
        .with_row(Row("Sends and crisis alerts"))
        .with_panel(
            _series(
                "Sends by outcome",
                "ops",
                (f"sum by (outcome) (rate(givecare_sms_sends_total[{w}]))", "{{outcome}}"),
                description="Outbound SMS dispatches by outcome.",
            )
        )
        .with_panel(
            _series(
                "Crisis alerts waiting",
                "short",
                ("max(givecare_crisis_alerts_open)", "open"),
                description="Open (unacknowledged) crisis alerts over time.",
            )
        )
        .with_panel(
            _series(
                "Scheduler",
                "ops",
                (f"sum(rate(givecare_scheduler_due_total[{w}]))", "due"),
                (f"sum(rate(givecare_scheduler_sent_total[{w}]))", "sent"),
                (f"sum(rate(givecare_scheduler_skipped_total[{w}]))", "skipped"),
                (f"sum(rate(givecare_scheduler_deferred_total[{w}]))", "deferred"),
                description="Proactive messages: users due, messages emitted, skips, deferrals.",
            )
        )
    )


def dashboard_json() -> str:
    built = dashboard().build()
    for number, panel in enumerate(built.panels or [], start=1):
        panel.id_val = number  # stable, unique ids (links and alerts refer to panels by id)
    return json.dumps(built, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def prometheus_rule_yaml() -> str:
    rules: dict[str, Any] = yaml.safe_load(RULES.read_text())
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "givecare-alerts"},
        "spec": {"groups": rules["groups"]},
    }
    header = (
        "# Generated from deploy/monitoring/rules/givecare-alerts.yaml by\n"
        "# `python -m services.devtools.monitoring`; edit the rule file, not this.\n"
    )
    return header + yaml.safe_dump(rule, sort_keys=False, width=100)


def generated() -> dict[Path, str]:
    return {DASHBOARD: dashboard_json(), PROMETHEUS_RULE: prometheus_rule_yaml()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.devtools.monitoring")
    parser.add_argument("--check", action="store_true", help="fail if a file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path, text in generated().items():
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.relative_to(ROOT))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        sys.stderr.write(f"out of date (python -m services.devtools.monitoring): {stale}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
