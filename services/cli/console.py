"""How every `givecare` operator command runs, in one of two modes:

* **remote** (`--api-url`/`GIVECARE_API_URL` set): through the admin API over HTTPS, as the
  operator whose token `--token`/`GIVECARE_TOKEN` is — their roles, their audit trail;
* **direct** (no API URL): against the database and broker of this environment, as the local
  operator (`cli:<os user>@<host>`), for local use and for a shell inside the cluster.

Either way the answer is the same JSON on stdout (a model of `services/admin/schemas.py`), logs
go to stderr, and an error is one JSON line on stderr with an exit code saying what kind it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn, TypeVar

import aiormq
import httpx
import pydantic
import typer
from pydantic_core import to_jsonable_python
from pymongo.errors import PyMongoError

from services.admin.auth import operator
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
from services.admin.wiring import AdminConfig, open_admin
from services.cli.local import LocalAdmin
from services.cli.operations import AdminOperations
from services.cli.remote import AdminClient, ApiRefusal, api_base_url
from shared.config import ConfigError, LoggingSettings, load_settings
from shared.logging import configure_logging

T = TypeVar("T")

# Exit codes, by what went wrong (documented in docs/admin.md and docs/operations.md).
EXIT_FAILED: Final = 1
EXIT_INVALID: Final = 2
EXIT_NOT_FOUND: Final = 3
EXIT_CONFLICT: Final = 4
EXIT_UNAVAILABLE: Final = 5
EXIT_REFUSED: Final = 6
EXIT_PENDING: Final = 7
_EXIT_CODES: Final[tuple[tuple[type[AdminError], int], ...]] = (
    (InvalidRequest, EXIT_INVALID),
    (NotFound, EXIT_NOT_FOUND),
    (Conflict, EXIT_CONFLICT),
    (BrokerUnavailable, EXIT_UNAVAILABLE),
    (NotAuthenticated, EXIT_REFUSED),
    (Forbidden, EXIT_REFUSED),
    (TooManyAttempts, EXIT_REFUSED),
)
# The API's refusals by HTTP status, to the same codes.
_EXIT_BY_STATUS: Final = {
    400: EXIT_INVALID,
    413: EXIT_INVALID,
    422: EXIT_INVALID,
    404: EXIT_NOT_FOUND,
    409: EXIT_CONFLICT,
    503: EXIT_UNAVAILABLE,
    401: EXIT_REFUSED,
    403: EXIT_REFUSED,
    429: EXIT_REFUSED,
}


@dataclass(frozen=True)
class Target:
    """Where operator commands go: the admin API at `api_url`, or nowhere (direct mode)."""

    api_url: str | None = None
    token: str | None = field(default=None, repr=False)


# Set by the root options (`givecare --api-url … --token …`) for the command that runs next.
_TARGET: ContextVar[Target | None] = ContextVar("givecare_target", default=None)


def choose_target(api_url: str | None, token: str | None) -> None:
    """Remember the root options for the command that runs."""
    _TARGET.set(Target(api_url or None, token or None))


def target() -> Target:
    return _TARGET.get() or Target()


def operator_name() -> str:
    """`<os user>@<host>`: who the audit log says acted."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid-{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def fail(code: int, error: str, detail: Any) -> NoReturn:
    typer.echo(json.dumps({"error": error, "detail": detail}), err=True)
    raise typer.Exit(code)


def print_json(value: Any) -> None:
    """An answer (a model of `services/admin/schemas.py`, or a list of them) as the API sends it."""
    typer.echo(json.dumps(to_jsonable_python(value), indent=2))


def run_admin(operation: Callable[[AdminOperations], Awaitable[T]]) -> T:
    """Run one admin operation in the chosen mode and return its answer."""
    chosen = target()
    if chosen.api_url is not None:
        return run_remote(operation)
    try:
        config = AdminConfig.from_environment()
    except ConfigError as error:
        fail(EXIT_INVALID, "invalid_configuration", str(error))
    actor = operator(operator_name())

    async def direct() -> T:
        async with open_admin(config, app_name="givecare-cli") as services:
            return await operation(LocalAdmin(services, actor))

    return run(direct)


def run_remote(operation: Callable[[AdminClient], Awaitable[T]]) -> T:
    """Run one operation through the admin API; refused without an API URL and a token."""
    chosen = target()
    if chosen.api_url is None:
        fail(EXIT_INVALID, "remote_only", "set --api-url or GIVECARE_API_URL")
    if chosen.token is None:
        fail(EXIT_INVALID, "no_token", "set GIVECARE_TOKEN (or --token) to an API token")
    try:
        api_base_url(chosen.api_url)
    except ValueError as error:
        fail(EXIT_INVALID, "invalid_api_url", f"--api-url {error}")
    api_url, token = chosen.api_url, chosen.token

    async def remote() -> T:
        async with AdminClient(api_url, token) as client:
            return await operation(client)

    return run(remote)


def refuse_remote(command: str, why: str) -> None:
    """For commands that only run where the database is: say so, rather than run locally when
    the operator meant production."""
    if target().api_url is not None:
        fail(EXIT_INVALID, "direct_only", f"`givecare {command}` runs in direct mode only: {why}")


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a command's coroutine with logs on stderr, and turn what went wrong into an exit
    code and one JSON line (never a token, a phone number or a message body)."""
    try:
        logging = load_settings(LoggingSettings)
    except ConfigError as error:
        fail(EXIT_INVALID, "invalid_configuration", str(error))
    # Logs go to stderr, so stdout carries only the command's JSON answer.
    with contextlib.redirect_stdout(sys.stderr):
        configure_logging("cli", level=logging.level, json=logging.as_json, stream=sys.stderr)
    try:
        return asyncio.run(main())
    except AdminError as error:
        code = next((exit for kind, exit in _EXIT_CODES if isinstance(error, kind)), EXIT_FAILED)
        fail(code, error.code, str(error))
    except ApiRefusal as refusal:
        fail(_EXIT_BY_STATUS.get(refusal.status, EXIT_FAILED), refusal.error, refusal.detail)
    except ConfigError as error:
        fail(EXIT_INVALID, "invalid_configuration", str(error))
    except PyMongoError as error:
        fail(EXIT_UNAVAILABLE, "database_unavailable", type(error).__name__)
    except (ConnectionError, aiormq.exceptions.AMQPError) as error:
        fail(EXIT_UNAVAILABLE, "broker_unavailable", type(error).__name__)
    except httpx.TransportError as error:
        fail(EXIT_UNAVAILABLE, "api_unavailable", f"{type(error).__name__}: the API did not answer")
    except pydantic.ValidationError as error:
        fail(EXIT_FAILED, "unexpected_answer", f"{error.error_count()} fields did not match")
