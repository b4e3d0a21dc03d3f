"""`givecare dlq list|replay|discard QUEUE`: events parked in a consumer queue's `.dlq`.

QUEUE is a consumer queue of the catalog without the environment's prefix, e.g.
`sms_sender.events`. Replays and discards are audited like the API's (they are the same code).
"""

from __future__ import annotations

from typing import Annotated

import typer

from services.cli.console import print_json, run_admin
from services.cli.options import Limit

dlq_app = typer.Typer(help="Parked (dead-lettered) events.", no_args_is_help=True)

Queue = Annotated[str, typer.Argument(help="consumer queue, e.g. sms_sender.events")]
Ids = Annotated[list[str] | None, typer.Option("--id", help="a message id (repeatable)")]


@dlq_app.command("list")
def list_parked(queue: Queue, limit: Limit = 100) -> None:
    """Show parked events' metadata (never bodies), leaving them parked."""
    print_json(run_admin(lambda admin: admin.parked(queue, limit=limit)))


@dlq_app.command("replay")
def replay(queue: Queue, message_id: Ids = None, limit: Limit = 100) -> None:
    """Move parked events (all of the first --limit, or the given ids) back to the work queue."""
    print_json(
        run_admin(lambda admin: admin.replay_parked(queue, message_ids=message_id, limit=limit))
    )


@dlq_app.command("discard")
def discard(
    queue: Queue,
    message_id: Ids = None,
    discard_all: Annotated[bool, typer.Option("--all", help="every parked event")] = False,
    limit: Limit = 100,
) -> None:
    """Delete parked events for good: the given ids, or --all."""
    print_json(
        run_admin(
            lambda admin: admin.discard_parked(
                queue, message_ids=message_id, everything=discard_all, limit=limit
            )
        )
    )
