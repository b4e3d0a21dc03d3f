"""`givecare roles grant|revoke USER ROLE`: the operators' roles (admin, support), kept in the
admin's own database by phone."""

from __future__ import annotations

from typing import Annotated

import typer

from services.admin.auth import Role
from services.cli.console import print_json, run_admin

roles_app = typer.Typer(help="Grant and revoke admin roles.", no_args_is_help=True)

UserRef = Annotated[
    str, typer.Argument(help="E.164 phone, operator id, or the SMS worker's user id")
]


@roles_app.command("grant")
def grant(user: UserRef, role: Role) -> None:
    """Give a role (a phone number with no operator yet becomes one; it need never have texted)."""
    print_json(run_admin(lambda services, actor: services.actions.grant_role(actor, user, role)))


@roles_app.command("revoke")
def revoke(user: UserRef, role: Role) -> None:
    """Take a role away; the last admin keeps theirs."""
    print_json(run_admin(lambda services, actor: services.actions.revoke_role(actor, user, role)))
