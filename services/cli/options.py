"""Options more than one sub-command takes, parsed one way."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.admin.schemas import MAX_ROWS
from shared.phones import InvalidPhoneNumber, normalise_phone


def _e164(raw: str) -> str:
    """The number as the SMS worker keys users by it, so the tools and the system agree."""
    try:
        return normalise_phone(raw)
    except InvalidPhoneNumber as error:
        raise typer.BadParameter(str(error)) from None


CaregiverPhone = Annotated[
    str,
    typer.Option(
        "--phone",
        help="The caregiver's phone number (E.164; US numbers may omit +1).",
        callback=_e164,
    ),
]
DevtoolsEnv = Annotated[
    Path,
    typer.Option(
        "--env-file",
        help="Where `make run` left the values it made up (dev tokens, the fake Twilio).",
    ),
]
# Rows a command reads or acts on: at most a page (the API's own bound), as one request.
Limit = Annotated[
    int, typer.Option(min=1, max=MAX_ROWS, help="at most this many rows (a page: 500)")
]
UserRef = Annotated[
    str, typer.Argument(help="E.164 phone, operator id, or the SMS worker's user id")
]
