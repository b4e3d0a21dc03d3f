"""The operator's view of the whole system as Prometheus gauges, served on ingress's `/metrics`
where the admin API runs: every consumer queue's depth (ready, retrying, parked — the parking
queue is the dead-letter queue), the crisis alerts waiting for a human and the oldest one's age,
and the admin's own outbox backlog.

The admin observes these from outside the services that own them, through the same reads as
`/admin/metrics` (passive queue declarations, the SMS worker's views), so the figures — and the
alerts on them — survive the owning service being down. Every ingress replica reports the same
values; rules take the `max`.
"""

from __future__ import annotations

from prometheus_client import Gauge

from services.admin.wiring import AdminServices
from shared.outbox import OUTBOX_COLLECTION
from shared.state_metrics import Probe, age_seconds, outbox_backlog_probe

QUEUE_MESSAGES = Gauge(
    "givecare_queue_messages",
    "Messages in a consumer queue, by queue and state: ready (waiting for a consumer), "
    "retrying (in the retry delay queues), parked (in the dead-letter queue `<queue>.dlq`).",
    ["queue", "state"],
)
CRISIS_ALERTS_OPEN = Gauge(
    "givecare_crisis_alerts_open",
    "Crisis alerts raised and not yet acknowledged by a human.",
)
CRISIS_ALERT_OLDEST_OPEN_AGE = Gauge(
    "givecare_crisis_alert_oldest_open_age_seconds",
    "Age of the oldest unacknowledged crisis alert; 0 when none is open.",
)


def admin_probes(services: AdminServices) -> list[tuple[str, Probe]]:
    """The probes the admin's lifespan refreshes (`shared.state_metrics.refresh_periodically`)."""

    async def queues() -> None:
        depths = await services.broker.queue_depths()
        for name, depth in depths.items():
            queue = services.broker.settings.queue(name)
            for state, value in (
                ("ready", depth.ready),
                ("retrying", depth.retrying),
                ("parked", depth.parked),
            ):
                if value is not None:  # a queue not declared yet has no depth
                    QUEUE_MESSAGES.labels(queue, state).set(value)

    async def crisis_alerts() -> None:
        count, oldest = await services.sms.open_alerts_summary()
        CRISIS_ALERTS_OPEN.set(count)
        CRISIS_ALERT_OLDEST_OPEN_AGE.set(age_seconds(oldest, services.clock.now()))

    return [
        ("queues", queues),
        ("crisis_alerts", crisis_alerts),
        (
            "admin_outbox",
            outbox_backlog_probe(services.admin_db[OUTBOX_COLLECTION], services.clock, "admin"),
        ),
    ]
