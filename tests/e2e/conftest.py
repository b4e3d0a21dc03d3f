"""Every service as a real process (tests/support/system.py), driven by signed webhooks, with
replies read back from the fake Twilio.

Each module starts the five processes once (`system`), on its own exchange, queue prefix and
databases; a module changes their environment by overriding the `module_environment` fixture.
Tests use their own phone numbers, so they share the running system without seeing each other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.local_servers import LocalMongo
from tests.support.servers import Infra
from tests.support.system import System, running_system


@pytest.fixture(scope="module")
def module_environment() -> dict[str, str]:
    """Extra environment for this module's processes; modules override it."""
    return {}


@pytest.fixture(scope="module")
async def system(
    rabbitmq_url: str,
    mongodb_url: str,
    module_environment: dict[str, str],
    mongodb_server: Infra[LocalMongo],
) -> AsyncIterator[System]:
    async with running_system(
        rabbitmq_url,
        mongodb_url,
        module_environment,
        drop_databases=mongodb_server.local is None,
    ) as running:
        yield running
