"""`scheduler_leases`: the fake and the real server agree on who may tick."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.scheduler.conftest import CONTRACT_NOW as NOW
from tests.integration.scheduler.conftest import Backend

pytestmark = pytest.mark.integration

LEASE = timedelta(seconds=30)


async def test_a_lease_is_held_until_it_runs_out_and_renewed_by_its_holder(
    backend: Backend,
) -> None:
    leases = backend.store.leases
    assert await leases.take("tick", "a", NOW, NOW + LEASE)
    assert not await leases.take("tick", "b", NOW + LEASE / 2, NOW + LEASE * 1.5)
    assert await leases.take("tick", "a", NOW + LEASE / 2, NOW + LEASE * 1.5)  # renewed
    assert not await leases.take("tick", "b", NOW + LEASE, NOW + LEASE * 2)
    assert await leases.take("tick", "b", NOW + LEASE * 1.5, NOW + LEASE * 2.5)  # ran out
    assert not await leases.take("tick", "a", NOW + LEASE * 2, NOW + LEASE * 3)
    # Another lease is independent of this one.
    assert await leases.take("other", "a", NOW + LEASE * 2, NOW + LEASE * 3)
