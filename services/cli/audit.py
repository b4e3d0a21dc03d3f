"""`givecare audit`: the admin's append-only log of writes, newest first."""

from __future__ import annotations

from typing import Annotated

import typer

from services.cli.console import print_json, run_admin
from services.cli.options import Limit


def audit(
    target: Annotated[
        str | None, typer.Option(help="only rows about this id (operator, token, user, queue …)")
    ] = None,
    limit: Limit = 100,
) -> None:
    """Who did what, to what, when (admin role)."""
    print_json(run_admin(lambda admin: admin.audit(target=target, limit=limit)))
