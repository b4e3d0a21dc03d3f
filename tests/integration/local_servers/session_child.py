"""Not collected on its own (no `test_` prefix): the pytest session `test_lifecycle.py` starts
as a child and kills. It takes both servers the way any integration test does, starts a process
no teardown ends (as the e2e tests' service processes would be if their teardown never ran),
says it is ready, and waits to be killed."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

READY_FILE = "LIFECYCLE_READY_FILE"


@pytest.fixture(scope="session")
def unowned_child() -> int:
    """A plain child in the session's own process group, recorded nowhere: only the guardian's
    watch over the session's children ends it. Set up first, so the guardian has seen it long
    before the servers are up."""
    return subprocess.Popen(["sleep", "600"]).pid


def test_hold_both_servers_until_killed(
    unowned_child: int, rabbitmq_url: str, mongodb_url: str
) -> None:
    Path(os.environ[READY_FILE]).write_text(f"{rabbitmq_url}\n{mongodb_url}\n")
    time.sleep(600)
