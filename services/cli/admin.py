"""`givecare admin`: create the first admin with the bootstrap token, mint and revoke API tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from services.admin.auth import Actor, Role
from services.admin.errors import InvalidRequest
from services.admin.schemas import NewToken
from services.admin.wiring import AdminServices
from services.cli.console import operator_name, print_json, run_admin

admin_app = typer.Typer(help="The first admin and API tokens.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens: shown once, stored as hashes.", no_args_is_help=True)
admin_app.add_typer(token_app, name="token")


@admin_app.command("create-first")
def create_first(
    phone: Annotated[str, typer.Option(help="E.164 phone number of the first admin")],
    token_name: Annotated[str | None, typer.Option(help="a label for the new token")] = None,
) -> None:
    """Make the first admin and print their API token (once), with the deployment's
    ADMIN_BOOTSTRAP_TOKEN from the environment. Refused once an admin exists."""

    async def bootstrap(services: AdminServices, _actor: Actor) -> NewToken:
        configured = services.config.admin.bootstrap_token
        if configured is None:
            raise InvalidRequest("ADMIN_BOOTSTRAP_TOKEN is not set in this environment")
        # Presented like any caller would, so the API's check (and its throttle) applies.
        await services.auth.check_bootstrap(configured.get_secret_value(), f"cli:{operator_name()}")
        return await services.actions.bootstrap_first_admin(phone, token_name=token_name)

    print_json(run_admin(bootstrap))


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
        run_admin(
            lambda services, actor: services.actions.create_token(
                actor, user, roles=role, ttl_days=ttl_days, name=name
            )
        )
    )


@token_app.command("revoke")
def revoke_token(token_id: Annotated[str, typer.Argument(help="the token's public id")]) -> None:
    """Revoke a token at once."""
    print_json(run_admin(lambda services, actor: services.actions.revoke_token(actor, token_id)))


@token_app.command("list")
def list_tokens(
    operator_id: Annotated[str | None, typer.Option(help="only this operator's tokens")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 100,
) -> None:
    """Tokens, newest first (never their hashes)."""
    print_json(
        run_admin(
            lambda services, actor: services.reads.tokens(
                actor, operator_id=operator_id, limit=limit
            )
        )
    )
