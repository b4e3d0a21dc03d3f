"""`givecare metrics`: the admin API's system metrics, as JSON."""

from __future__ import annotations

from services.cli.console import print_json, run_admin


def metrics() -> None:
    """System metrics: users, messages today, crisis alerts, sends, queues and parked events."""
    print_json(run_admin(lambda services, actor: services.reads.metrics(actor)))
