"""The forking launcher the integration tests run `givecare` through (tests/support/cli.py)
behaves as a fresh process would: exactly the environment it is given, its own stdin, stdout
and stderr, its exit code, several at once, and a command that hangs is killed."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from tests.support.cli import givecare

REMOTE = {"GIVECARE_API_URL": "https://admin.invalid", "LOG_FORMAT": "json"}


async def test_the_answer_exit_code_and_streams_are_the_commands_own() -> None:
    shown = await givecare("--help", env={})
    assert shown.code == 0, shown.stderr
    assert "Usage: givecare" in shown.stdout
    unknown = await givecare("no-such-command", env={})
    assert unknown.code == 2
    assert "No such command" in unknown.stderr
    assert unknown.stdout == ""


async def test_the_environment_is_exactly_the_one_given() -> None:
    # The token comes from the environment only: the launcher's own must not leak in.
    os.environ["GIVECARE_TOKEN"] = "leaked-from-the-test-process"
    try:
        refused = await givecare("whoami", env=REMOTE)
    finally:
        del os.environ["GIVECARE_TOKEN"]
    assert refused.code == 2
    assert refused.error()["error"] == "no_token"
    insecure = await givecare(
        "whoami", env={**REMOTE, "GIVECARE_API_URL": "http://example.com", "GIVECARE_TOKEN": "t"}
    )
    assert (insecure.code, insecure.error()["error"]) == (2, "invalid_api_url")


async def test_commands_run_at_once_each_with_its_own_streams() -> None:
    results = await asyncio.gather(
        *(
            givecare(
                "whoami",
                env={**REMOTE, "GIVECARE_API_URL": f"http://h{n}.example", "GIVECARE_TOKEN": "t"},
            )
            for n in range(6)
        )
    )
    for n, result in enumerate(results):
        assert result.code == 2
        assert result.stdout == ""
        errors = [json.loads(line) for line in result.stderr.splitlines()]
        assert [error["error"] for error in errors] == ["invalid_api_url"], n


async def test_a_command_that_outlives_its_timeout_is_killed() -> None:
    # Direct mode against a database that never answers: server selection waits a minute.
    nowhere = "mongodb://127.0.0.1:9/?directConnection=true&serverSelectionTimeoutMS=60000"
    with pytest.raises(TimeoutError):
        await givecare("metrics", env={"MONGODB_URL": nowhere}, timeout=1)
