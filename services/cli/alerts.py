"""`givecare alerts list|acknowledge`: crisis alerts, and asking the SMS worker to acknowledge
one (the alert is the SMS worker's; the admin asks with an event)."""

from __future__ import annotations

from typing import Annotated

import typer

from services.cli.console import print_json, run_admin
from services.cli.options import Limit

alerts_app = typer.Typer(help="Crisis alerts.", no_args_is_help=True)


@alerts_app.command("list")
def list_alerts(
    status: Annotated[str | None, typer.Option(help="open or acknowledged")] = None,
    limit: Limit = 50,
) -> None:
    """Alerts, newest first."""
    print_json(run_admin(lambda admin: admin.crisis_alerts(status=status, limit=limit)))


@alerts_app.command("acknowledge")
def acknowledge(
    alert_id: Annotated[str, typer.Argument(help="the alert's id")],
    note: Annotated[str | None, typer.Option(help="what was done (no phone numbers)")] = None,
) -> None:
    """Ask for an open alert to be marked acknowledged (once)."""
    print_json(run_admin(lambda admin: admin.acknowledge_alert(alert_id, note=note)))
