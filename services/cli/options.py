"""Options more than one sub-command takes, parsed one way."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
