"""`python -m services.billing_worker [serve]` runs the worker. Its operator commands moved to
`givecare billing reconcile|checkout-link` (services/cli/billing.py); they are not aliased
here, because the billing worker may import no other service and `givecare` imports the admin."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from services.billing_worker.expiry import AccessExpiry
from services.billing_worker.handlers import BillingTexts, StripeEventHandler
from services.billing_worker.operator_requests import operator_requests
from services.billing_worker.queues import STRIPE
from services.billing_worker.reconcile_schedule import (
    scheduled_reconcile,
    scheduled_reconcile_client,
)
from services.billing_worker.refetch import SubscriptionRefresher
from services.billing_worker.service import StripeEventConsumer
from services.billing_worker.settings import BillingSettings
from services.billing_worker.store import BILLING_INDEXES, MongoAccounts
from services.billing_worker.stripe_client import (
    StripeSubscriptions,
    configured_stripe_client,
    stripe_client,
)
from services.billing_worker.unit_of_work import billing_work
from services.queues import CONSUMER_QUEUES
from shared.config import (
    ConfigError,
    DeploymentSettings,
    LinkSettings,
    StripeSettings,
    load_settings,
)
from shared.events.catalog import StripeEventReceived
from shared.mongo import ensure_indexes
from shared.worker import WorkerRuntime

SERVICE = "billing_worker"


async def serve() -> None:
    billing = load_settings(BillingSettings)
    texts = BillingTexts(
        signup_url=load_settings(LinkSettings).signup_url,
        payment_notice_memory=billing.payment_notice_memory,
    )
    stripe_settings = load_settings(StripeSettings)
    # Refused here, before any connection, when the schedule is on and cannot run.
    reconcile_client = scheduled_reconcile_client(
        billing, stripe_settings, load_settings(DeploymentSettings)
    )
    # One Stripe client per process: the schedule's, else one of its own when a key is set.
    client = reconcile_client or configured_stripe_client(stripe_settings, billing)
    source = None
    if billing.refetch_subscriptions != "off":
        source = StripeSubscriptions(client or stripe_client(stripe_settings, billing))
    async with WorkerRuntime.open(SERVICE, queues=CONSUMER_QUEUES) as runtime:
        await ensure_indexes(runtime.db, BILLING_INDEXES)
        # Reads outside any event (no session): the re-fetch's hint and the sweep's scan.
        accounts = MongoAccounts(runtime.db)
        refresher = (
            SubscriptionRefresher(billing.refetch_subscriptions, source, accounts, runtime.clock)
            if source is not None
            else None
        )
        transactions = runtime.transactions(billing_work(runtime.db))
        stripe_events = StripeEventConsumer(StripeEventHandler(runtime.clock, texts), refresher)
        consumer = runtime.consumer(STRIPE)
        consumer.handle(
            StripeEventReceived, runtime.inbox(STRIPE.name, transactions).planned(stripe_events)
        )
        expiry = AccessExpiry(
            accounts,
            transactions,
            runtime.clock,
            interval_seconds=billing.access_sweep_interval_seconds,
        )
        async with (
            scheduled_reconcile(
                runtime, reconcile_client, interval_seconds=billing.reconcile_interval_seconds
            ) as reconciling,
            # Operators' reconcile and Checkout-link requests from the admin API.
            operator_requests(runtime, client, billing) as requests,
        ):
            await runtime.run(
                [consumer, requests],
                background=[expiry.run, *reconciling.background],
                probes=reconciling.probes,
            )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.billing_worker",
        description=__doc__,
        epilog="reconcile, checkout-link: see `givecare billing --help`",
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="consume Stripe events and operators' requests (default)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    _parser().parse_args(argv)
    try:
        asyncio.run(serve())
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
