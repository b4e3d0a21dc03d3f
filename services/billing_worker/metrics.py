"""Prometheus metrics of the billing worker, served on its ops port (`/metrics`, default 9102):
the scheduled Stripe reconcile, which on-call needs to know has run. Labels are bounded sets."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

RECONCILE_LAST_SUCCESS = Gauge(
    "givecare_billing_reconcile_last_success_timestamp_seconds",
    "When a scheduled Stripe reconcile last finished successfully, on any replica (Unix time, "
    "read from the database, so every replica reports the same); 0 before the first.",
)
RECONCILE_INTERVAL = Gauge(
    "givecare_billing_reconcile_interval_seconds",
    "BILLING_RECONCILE_INTERVAL_SECONDS of this worker; 0 when it does not reconcile on a "
    "schedule.",
)
RECONCILE_RUNS = Counter(
    "givecare_billing_reconcile_runs_total",
    "Scheduled Stripe reconciles this replica ran, by outcome (ok, failed).",
    ["outcome"],
)
RECONCILE_FED = Counter(
    "givecare_billing_reconcile_events_fed_total",
    "Stripe events a scheduled reconcile found never received and fed to the worker (webhooks "
    "that did not arrive).",
)
