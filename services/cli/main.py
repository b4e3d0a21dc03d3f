"""The `givecare` console script: sub-commands are registered here, implemented in sibling modules.

Each area's module owns a `typer.Typer` and talks to the same code paths as the services and the
admin API, so the CLI never has its own version of a rule. The root options choose the mode of
the operator commands (`services/cli/console.py`): remote through the admin API, or direct.
"""

from __future__ import annotations

from typing import Annotated

import typer

from services.cli import (
    admin,
    alerts,
    audit,
    billing,
    chat,
    console,
    dlq,
    metrics,
    migrations,
    outbound,
    roles,
    stripe_events,
    users,
)

app = typer.Typer(
    name="givecare",
    help="Operate and try out the GiveCare backend.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root(
    api_url: Annotated[
        str | None,
        typer.Option(
            "--api-url",
            envvar="GIVECARE_API_URL",
            help="The admin API (e.g. https://admin.givecare.internal): operator commands then "
            "go through it, as the token's operator. Unset: direct mode, against this "
            "environment's database and broker.",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="GIVECARE_TOKEN",
            help="The API token for --api-url (prefer the variable: options show in `ps`).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Operate and try out the GiveCare backend."""
    console.choose_target(api_url, token)


app.command("chat")(chat.chat)
app.add_typer(stripe_events.app, name="stripe")
app.add_typer(admin.admin_app, name="admin")
app.add_typer(roles.roles_app, name="roles")
app.add_typer(users.users_app, name="users")
app.add_typer(alerts.alerts_app, name="alerts")
app.add_typer(dlq.dlq_app, name="dlq")
app.add_typer(outbound.outbound_app, name="outbound")
app.command("metrics")(metrics.metrics)
app.command("whoami")(metrics.whoami)
app.command("audit")(audit.audit)
app.add_typer(migrations.migrations_cli(), name="migrations")
app.add_typer(billing.billing_app, name="billing")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
