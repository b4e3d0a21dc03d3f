"""Prometheus metrics of the platform runtime, shared by every service.

Labels are bounded sets (queue names, event types, outcomes) — never user ids or phone numbers.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter(
    "givecare_events_consumed_total",
    "Events taken from a queue, by outcome (handled, duplicate, retried, parked).",
    ["queue", "event_type", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "givecare_handler_duration_seconds",
    "Time spent in event handlers.",
    ["queue", "event_type"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_PUBLISHED = Counter(
    "givecare_events_published_total",
    "Events confirmed by the broker.",
    ["event_type"],
)
OUTBOX_PUBLISH_FAILURES = Counter(
    "givecare_outbox_publish_failures_total",
    "Outbox rows whose publish failed and will be retried after their lease.",
    ["event_type"],
)
MONGO_COMMANDS = Counter(
    "givecare_mongo_commands_total",
    "Database commands this process sent, by command and collection (round trips: the cost "
    "per message that the benchmarks break down by service and hop).",
    ["command", "collection"],
)
OUTBOX_BACKLOG = Gauge(
    "givecare_outbox_backlog_rows",
    "Outbox rows committed but not yet published (status pending), by outbox. Refreshed from "
    "the database every few seconds (shared.state_metrics).",
    ["outbox"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "givecare_outbox_oldest_pending_age_seconds",
    "Age of the oldest pending outbox row, by outbox; 0 when nothing is pending.",
    ["outbox"],
)
STATE_REFRESH_FAILURES = Counter(
    "givecare_state_metrics_refresh_failures_total",
    "Refreshes of a database- or broker-backed gauge that failed (the gauge keeps its last "
    "value), by probe.",
    ["probe"],
)
