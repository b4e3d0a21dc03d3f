"""The `givecare` console script: sub-commands are registered here, implemented in sibling modules.

Each area's module owns a `typer.Typer` and talks to the same code paths as the services and the
admin API, so the CLI never has its own version of a rule.
"""

from __future__ import annotations

import typer

from services.cli import admin, chat, dlq, metrics, outbound, roles, stripe_events

app = typer.Typer(
    name="givecare",
    help="Operate and try out the GiveCare backend.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Operate and try out the GiveCare backend."""


app.command("chat")(chat.chat)
app.add_typer(stripe_events.app, name="stripe")
app.add_typer(admin.admin_app, name="admin")
app.add_typer(roles.roles_app, name="roles")
app.add_typer(dlq.dlq_app, name="dlq")
app.add_typer(outbound.outbound_app, name="outbound")
app.command("metrics")(metrics.metrics)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
