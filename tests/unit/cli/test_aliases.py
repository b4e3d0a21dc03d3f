"""The entry points that moved under `givecare` still answer under their old names, as thin
aliases of the same commands (no servers needed: only their help is asked for)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("module", "commands"),
    [("services.migrations", ["list", "status", "run", "verify", "rollback"])],
)
def test_an_old_entry_point_is_an_alias_of_its_givecare_commands(
    module: str, commands: list[str]
) -> None:
    shown = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert "Usage: givecare" in shown.stdout
    for command in commands:
        assert command in shown.stdout
