"""`givecare users show|message USER`: a caregiver's whole picture (masked for support), and
texting them through the normal outbound path."""

from __future__ import annotations

from typing import Annotated

import typer

from services.cli.console import print_json, run_admin
from services.cli.options import UserRef

users_app = typer.Typer(help="Caregivers: their picture, and texting them.", no_args_is_help=True)


@users_app.command("show")
def show(user: UserRef) -> None:
    """Profile, conversation summary, billing, last messages and their phone's operator roles."""
    print_json(run_admin(lambda admin: admin.user(user)))


@users_app.command("message")
def message(
    user: UserRef,
    body: Annotated[str, typer.Option(help="the text (at most one SMS, 1,600 characters)")],
    request_id: Annotated[
        str | None, typer.Option(help="repeat it to retry without sending twice")
    ] = None,
) -> None:
    """Text the user (refused if they opted out); the sender's opt-out gate and cap apply."""
    print_json(run_admin(lambda admin: admin.send_message(user, body, request_id=request_id)))
