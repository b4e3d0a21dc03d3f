"""Operators' requests that reach billing from the admin API: feed a window of Stripe events
billing never received, or create a Checkout link. Only billing holds the Stripe key, so the
admin sends a command (`billing.reconcile.requested`, `billing.checkout_link.requested`, queue
`billing_worker.requests`) and reads what became of it through `BillingViews.operator_request`.

Both are planned handlers: the Stripe work runs in `plan`, outside any transaction, and `apply`
records the outcome with the inbox row. Doing either twice is harmless — a reconcile feeds only
what billing lacks, and a Checkout Session is created with the request's id as Stripe's
idempotency key. What retrying cannot fix (no Stripe key, no price, Stripe refusing the request)
is recorded as failed with the reason; a Stripe or broker outage raises, so the broker retries.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Final, Literal

import stripe
import structlog

from services.billing_worker.checkout import PriceNotConfigured, create_checkout_link
from services.billing_worker.queues import REQUESTS
from services.billing_worker.reconcile_schedule import Reconciler, stripe_reconciler
from services.billing_worker.records import OperatorRequestOutcome, ReconcileReport
from services.billing_worker.settings import BillingSettings
from services.billing_worker.store import MongoStripeEvents
from services.billing_worker.unit_of_work import BillingWork, billing_work
from shared.broker import Consumer, Publisher
from shared.clock import Clock
from shared.events import Envelope
from shared.events.catalog import BillingReconcileRequested, CheckoutLinkRequested
from shared.worker import WorkerRuntime

log = structlog.get_logger(__name__)

# Stripe's answers that the same request will get again, however often it is retried.
_REFUSED: Final = (
    stripe.InvalidRequestError,
    stripe.AuthenticationError,
    stripe.PermissionError,
    stripe.IdempotencyError,
)
_NO_KEY: Final = "the billing worker has no STRIPE_API_KEY"

Kind = Literal["reconcile", "checkout_link"]


def _outcome(
    request: BillingReconcileRequested | CheckoutLinkRequested,
    kind: Kind,
    clock: Clock,
    *,
    error: str | None = None,
    report: ReconcileReport | None = None,
    link: tuple[str, str] | None = None,
) -> OperatorRequestOutcome:
    if error is not None:
        log.warning(
            "operator request failed", kind=kind, request_id=request.request_id, error=error
        )
    return OperatorRequestOutcome(
        request_id=request.request_id,
        kind=kind,
        status="failed" if error is not None else "done",
        requested_by=request.requested_by,
        requested_at=request.requested_at,
        finished_at=clock.now(),
        reconcile=report,
        checkout_session_id=link[0] if link is not None else None,
        checkout_url=link[1] if link is not None else None,
        error=error,
    )


def _refused(error: stripe.StripeError) -> str:
    # The class and Stripe's code only: its message may repeat what was sent.
    code = f" ({error.code})" if error.code else ""
    return f"Stripe refused the request: {type(error).__name__}{code}"


class ReconcileRequests:
    """`billing.reconcile.requested`: the scheduled reconcile's own code over the asked window
    (it does not move the schedule's progress)."""

    def __init__(self, reconcile_since: Reconciler | None, clock: Clock) -> None:
        self._reconcile = reconcile_since
        self._clock = clock

    async def plan(self, event: Envelope[BillingReconcileRequested]) -> OperatorRequestOutcome:
        request = event.payload
        if self._reconcile is None:
            return _outcome(request, "reconcile", self._clock, error=_NO_KEY)
        try:
            report = await self._reconcile(timedelta(seconds=request.since_seconds))
        except _REFUSED as error:
            return _outcome(request, "reconcile", self._clock, error=_refused(error))
        return _outcome(request, "reconcile", self._clock, report=report)

    async def apply(
        self,
        event: Envelope[BillingReconcileRequested],
        plan: OperatorRequestOutcome,
        uow: BillingWork,
    ) -> None:
        await uow.operator_requests.record(plan)


class CheckoutLinkRequests:
    """`billing.checkout_link.requested`: a subscription Checkout Session for the caregiver."""

    def __init__(
        self, client: stripe.StripeClient | None, settings: BillingSettings, clock: Clock
    ) -> None:
        self._client = client
        self._settings = settings
        self._clock = clock

    async def plan(self, event: Envelope[CheckoutLinkRequested]) -> OperatorRequestOutcome:
        request = event.payload
        if self._client is None:
            return _outcome(request, "checkout_link", self._clock, error=_NO_KEY)
        try:
            link = await create_checkout_link(
                self._client,
                self._settings,
                phone=request.phone,
                plan=request.plan,
                user_id=request.user_id,
                idempotency_key=request.request_id,
            )
        except PriceNotConfigured as error:
            return _outcome(request, "checkout_link", self._clock, error=str(error))
        except _REFUSED as error:
            return _outcome(request, "checkout_link", self._clock, error=_refused(error))
        return _outcome(request, "checkout_link", self._clock, link=(link.session_id, link.url))

    async def apply(
        self, event: Envelope[CheckoutLinkRequested], plan: OperatorRequestOutcome, uow: BillingWork
    ) -> None:
        await uow.operator_requests.record(plan)


@contextlib.asynccontextmanager
async def operator_requests(
    runtime: WorkerRuntime, client: stripe.StripeClient | None, settings: BillingSettings
) -> AsyncIterator[Consumer]:
    """The consumer of `billing_worker.requests` as the worker runs it, with a publisher of its
    own (closed on exit) for the events a reconcile feeds. Without a Stripe client (no key, in
    development) every request is recorded as failed, saying so."""
    publisher = await Publisher.open(runtime.connection, runtime.broker_settings)
    reconcile_since = (
        stripe_reconciler(client, MongoStripeEvents(runtime.db), publisher, runtime.clock)
        if client is not None
        else None
    )
    inbox = runtime.inbox(REQUESTS.name, runtime.transactions(billing_work(runtime.db)))
    consumer = runtime.consumer(REQUESTS)
    consumer.handle(
        BillingReconcileRequested, inbox.planned(ReconcileRequests(reconcile_since, runtime.clock))
    )
    consumer.handle(
        CheckoutLinkRequested,
        inbox.planned(CheckoutLinkRequests(client, settings, runtime.clock)),
    )
    try:
        yield consumer
    finally:
        await publisher.close()
