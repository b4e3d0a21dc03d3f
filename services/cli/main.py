"""The `givecare` console script: sub-commands are registered here, implemented in sibling modules.

Each area's module owns a `typer.Typer` and talks to the same code paths as the services and the
admin API, so the CLI never has its own version of a rule.
"""

from __future__ import annotations

import typer

from services.cli import chat, stripe_events

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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
