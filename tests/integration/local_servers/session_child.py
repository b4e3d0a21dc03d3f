"""Not collected on its own (no `test_` prefix): the pytest session `test_lifecycle.py` starts
as a child and kills. It takes both servers the way any integration test does, says so, and
waits to be killed."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

READY_FILE = "LIFECYCLE_READY_FILE"


def test_hold_both_servers_until_killed(rabbitmq_url: str, mongodb_url: str) -> None:
    Path(os.environ[READY_FILE]).write_text(f"{rabbitmq_url}\n{mongodb_url}\n")
    time.sleep(600)
