"""`givecare admin`: create the first admin with the bootstrap token, mint and revoke API tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from services.admin.auth import Role
from services.cli.console import print_json, run_admin
from services.cli.options import Limit

admin_app = typer.Typer(help="The first admin and API tokens.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens: shown once, stored as hashes.", no_args_is_help=True)
admin_app.add_typer(token_app, name="token")


@admin_app.command("create-first")
def create_first(
    phone: Annotated[str, typer.Option(help="E.164 phone number of the first admin")],
    token_name: Annotated[str | None, typer.Option(help="a label for the new token")] = None,
) -> None:
    """Make the first admin and print their API token (once). Direct mode presents this
    environment's ADMIN_BOOTSTRAP_TOKEN; remote mode presents GIVECARE_TOKEN, which must be the
    deployment's bootstrap token. Refused once an admin exists."""
    print_json(run_admin(lambda admin: admin.bootstrap(phone, token_name=token_name)))


@token_app.command("create")
def create_token(
    user: Annotated[str, typer.Option(help="the operator: E.164 phone or id")],
    role: Annotated[
        list[Role] | None, typer.Option(help="repeatable; default: every role they hold")
    ] = None,
    ttl_days: Annotated[
        float | None, typer.Option(help="lifetime; default and maximum ADMIN_TOKEN_TTL_DAYS")
    ] = None,
    name: Annotated[str | None, typer.Option(help="a label for the token")] = None,
) -> None:
    """Mint an API token for an operator; it is printed once and stored only as a hash."""
    print_json(
        run_admin(lambda admin: admin.create_token(user, roles=role, ttl_days=ttl_days, name=name))
    )


@token_app.command("revoke")
def revoke_token(token_id: Annotated[str, typer.Argument(help="the token's public id")]) -> None:
    """Revoke a token at once."""
    print_json(run_admin(lambda admin: admin.revoke_token(token_id)))


@token_app.command("list")
def list_tokens(
    operator_id: Annotated[str | None, typer.Option(help="only this operator's tokens")] = None,
    limit: Limit = 100,
) -> None:
    """Tokens, newest first (never their hashes)."""
    print_json(run_admin(lambda admin: admin.tokens(operator_id=operator_id, limit=limit)))
