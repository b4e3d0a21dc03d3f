"""`givecare outbound failed|retry`: sends that did not reach the recipient, and asking again."""

from __future__ import annotations

from typing import Annotated

import typer

from services.cli.console import print_json, run_admin
from services.cli.options import Limit

outbound_app = typer.Typer(help="Failed outbound SMS.", no_args_is_help=True)


@outbound_app.command("failed")
def failed(limit: Limit = 50) -> None:
    """Failed sends, newest first, with whether a retry may help (masked for support)."""
    print_json(run_admin(lambda admin: admin.failed_outbound(limit=limit)))


@outbound_app.command("retry")
def retry(key: Annotated[str, typer.Argument(help="the send's idempotency key")]) -> None:
    """Request a failed send again through the normal path (opt-out gate, cap, once)."""
    print_json(run_admin(lambda admin: admin.retry_outbound(key)))
