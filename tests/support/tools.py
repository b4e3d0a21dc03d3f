"""Command-line tools that the dev dependencies install into the virtualenv (hadolint, kubectl,
check-jsonschema), found whether or not the virtualenv's bin directory is on PATH."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest


def dev_tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(found).exists():
        pytest.fail(f"{name} comes with the dev dependencies; run make bootstrap")
    return found
