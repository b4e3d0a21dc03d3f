"""`givecare roles grant|revoke USER ROLE`: the operators' roles (admin, support), kept in the
admin's own database by phone."""

from __future__ import annotations

import typer

from services.admin.auth import Role
from services.cli.console import print_json, run_admin
from services.cli.options import UserRef

roles_app = typer.Typer(help="Grant and revoke admin roles.", no_args_is_help=True)


@roles_app.command("grant")
def grant(user: UserRef, role: Role) -> None:
    """Give a role (a phone number with no operator yet becomes one; it need never have texted)."""
    print_json(run_admin(lambda admin: admin.grant_role(user, role)))


@roles_app.command("revoke")
def revoke(user: UserRef, role: Role) -> None:
    """Take a role away; the last admin keeps theirs."""
    print_json(run_admin(lambda admin: admin.revoke_role(user, role)))
