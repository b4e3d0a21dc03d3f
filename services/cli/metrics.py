"""`givecare metrics` and `givecare whoami`: the system at a glance, and who the CLI acts as."""

from __future__ import annotations

from services.cli.console import print_json, run_admin


def metrics() -> None:
    """System metrics: users, messages today, crisis alerts, sends, queues and parked events."""
    print_json(run_admin(lambda admin: admin.metrics()))


def whoami() -> None:
    """Who the commands act as: the token (remote) or the local operator (direct)."""
    print_json(run_admin(lambda admin: admin.whoami()))
