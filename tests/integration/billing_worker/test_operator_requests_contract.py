"""What became of operators' requests, on the fake and on the real server alike: an outcome is
recorded once under its request's id (a redelivery keeps the first) and read back as written."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from services.billing_worker.records import OperatorRequestOutcome, ReconcileReport
from services.billing_worker.store import MongoOperatorRequests
from services.billing_worker.unit_of_work import OperatorRequests
from services.billing_worker.views import BillingViews
from shared.mongo import Database
from tests.fakes.billing import FakeOperatorRequests

pytestmark = pytest.mark.integration

NOW = datetime(2031, 3, 1, 12, tzinfo=UTC)
RECONCILED = OperatorRequestOutcome(
    request_id="r1",
    kind="reconcile",
    status="done",
    requested_by="op1",
    requested_at=NOW,
    finished_at=NOW + timedelta(seconds=3),
    reconcile=ReconcileReport(listed=4, already_received=2, fed=2),
)
LINKED = OperatorRequestOutcome(
    request_id="c1",
    kind="checkout_link",
    status="done",
    requested_by="op1",
    requested_at=NOW,
    finished_at=NOW,
    checkout_url="https://checkout.stripe.test/c/pay/cs_1",
    checkout_session_id="cs_1",
)


@pytest.fixture(params=["fake", "mongo"])
def requests(request: pytest.FixtureRequest, db: Database) -> OperatorRequests:
    if request.param == "fake":
        return FakeOperatorRequests()
    return MongoOperatorRequests(db)


async def test_an_outcome_is_recorded_once_and_read_back_as_written(
    requests: OperatorRequests,
) -> None:
    assert await requests.get("r1") is None
    await requests.record(RECONCILED)
    await requests.record(LINKED)
    await requests.record(dataclasses.replace(RECONCILED, status="failed", error="later"))
    assert await requests.get("r1") == RECONCILED
    assert await requests.get("c1") == LINKED


async def test_the_admin_reads_an_outcome_through_billings_views(db: Database) -> None:
    await MongoOperatorRequests(db).record(LINKED)
    assert await BillingViews(db).operator_request("c1") == LINKED
    assert await BillingViews(db).operator_request("nope") is None
