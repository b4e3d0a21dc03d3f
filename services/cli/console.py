"""How every admin command runs: settings from the environment, the admin services opened for
the one command, the local operator as the actor, the answer as JSON on stdout, and errors as
a JSON reason on stderr with an exit code that says what kind of error it was.

The commands call `AdminReads`/`AdminActions`, the functions behind the admin API, so the CLI
has no rules of its own; it acts as an admin because whoever can reach the database already can.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Final, NoReturn, TypeVar

import typer
from pydantic_core import to_jsonable_python
from pymongo.errors import PyMongoError

from services.admin.auth import Actor, operator
from services.admin.errors import (
    AdminError,
    BrokerUnavailable,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotAuthenticated,
    NotFound,
    TooManyAttempts,
)
from services.admin.wiring import AdminConfig, AdminServices, open_admin
from shared.config import ConfigError, LoggingSettings, load_settings
from shared.logging import configure_logging

T = TypeVar("T")

# Exit codes, by what went wrong (documented in docs/admin.md).
EXIT_CONFIG: Final = 2
_EXIT_CODES: Final[tuple[tuple[type[AdminError], int], ...]] = (
    (InvalidRequest, 2),
    (NotFound, 3),
    (Conflict, 4),
    (BrokerUnavailable, 5),
    (NotAuthenticated, 6),
    (Forbidden, 6),
    (TooManyAttempts, 6),
)
EXIT_DATABASE: Final = 5


def operator_name() -> str:
    """`<os user>@<host>`: who the audit log says acted."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid-{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def _fail(code: int, error: str, detail: str) -> NoReturn:
    typer.echo(json.dumps({"error": error, "detail": detail}), err=True)
    raise typer.Exit(code)


def print_json(value: Any) -> None:
    """An answer (a model of `services/admin/schemas.py`, or a list of them) as the API sends it."""
    typer.echo(json.dumps(to_jsonable_python(value), indent=2))


def run_admin(operation: Callable[[AdminServices, Actor], Awaitable[T]]) -> T:
    """Run one admin operation as the local operator and return its answer."""
    try:
        config = AdminConfig.from_environment()
        logging = load_settings(LoggingSettings)
    except ConfigError as error:
        _fail(EXIT_CONFIG, "invalid_configuration", str(error))
    # Logs go to stderr, so stdout carries only the command's JSON answer.
    with contextlib.redirect_stdout(sys.stderr):
        configure_logging("cli", level=logging.level, json=logging.as_json)
    actor = operator(operator_name())

    async def main() -> T:
        async with open_admin(config, app_name="givecare-cli") as services:
            return await operation(services, actor)

    try:
        return asyncio.run(main())
    except AdminError as error:
        code = next((exit for kind, exit in _EXIT_CODES if isinstance(error, kind)), 1)
        _fail(code, error.code, str(error))
    except PyMongoError as error:
        _fail(EXIT_DATABASE, "database_unavailable", type(error).__name__)
