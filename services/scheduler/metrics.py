"""Prometheus metrics of the scheduler, served on its ops port (`/metrics`, default 9103).

Labels are bounded sets (kinds, reasons, outcomes), never user ids or phone numbers.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SCHEDULER_DUE = Counter(
    "givecare_scheduler_due_total",
    "Users a tick found due (next_due_at reached).",
)
SCHEDULER_SENT = Counter(
    "givecare_scheduler_sent_total",
    "Proactive messages claimed and emitted (proactive.message.due), by kind.",
    ["kind"],
)
SCHEDULER_CHURNED = Counter(
    "givecare_scheduler_churned_total",
    "Users marked churned (user.churned emitted).",
)
SCHEDULER_SKIPPED = Counter(
    "givecare_scheduler_skipped_total",
    "Due users who got nothing this tick, by reason (not_active, opted_out, no_access, "
    "outside_window, gap, nothing_due, lost_race).",
    ["reason"],
)
SCHEDULER_DEFERRED = Counter(
    "givecare_scheduler_deferred_total",
    "Deferrals from the SMS worker (proactive.message.deferred), by the worker's reason "
    "(outside_window, late) and what they did (released, superseded, already_released).",
    ["reason", "outcome"],
)
SCHEDULER_TICK_SECONDS = Histogram(
    "givecare_scheduler_tick_seconds",
    "One tick that held the lease: due query, decisions, claims and emissions.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
SCHEDULER_LAST_TICK = Gauge(
    "givecare_scheduler_last_tick_timestamp_seconds",
    "When this replica last completed a tick that held the lease (Unix time); 0 before the "
    "first. Tick age is `time() - max(...)` over the replicas: only the lease holder ticks.",
)
