"""`python -m services.billing_worker [serve]` runs the worker; `reconcile --since 3d` feeds missed
Stripe events into it; `checkout-link --phone … [--plan monthly|annual]` prints a Checkout URL."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import timedelta

from services.billing_worker.checkout import PriceNotConfigured, create_checkout_link
from services.billing_worker.expiry import AccessExpiry
from services.billing_worker.handlers import BillingTexts, StripeEventHandler
from services.billing_worker.queues import STRIPE
from services.billing_worker.reconcile import parse_since, reconcile
from services.billing_worker.reconcile_schedule import (
    scheduled_reconcile,
    scheduled_reconcile_client,
)
from services.billing_worker.refetch import SubscriptionRefresher
from services.billing_worker.service import StripeEventConsumer
from services.billing_worker.settings import BillingSettings
from services.billing_worker.store import BILLING_INDEXES, MongoAccounts, MongoStripeEvents
from services.billing_worker.stripe_client import StripeSubscriptions, stripe_client
from services.billing_worker.stripe_objects import e164
from services.billing_worker.unit_of_work import billing_work
from services.queues import CONSUMER_QUEUES
from shared.broker import Publisher
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
    source = None
    if billing.refetch_subscriptions != "off":
        client = reconcile_client or stripe_client(stripe_settings, billing)  # one per process
        source = StripeSubscriptions(client)
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
        async with scheduled_reconcile(
            runtime, reconcile_client, interval_seconds=billing.reconcile_interval_seconds
        ) as reconciling:
            await runtime.run(
                [consumer],
                background=[expiry.run, *reconciling.background],
                probes=reconciling.probes,
            )


async def run_reconcile(window: timedelta) -> int:
    client = stripe_client(load_settings(StripeSettings), load_settings(BillingSettings))
    async with WorkerRuntime.open(SERVICE, queues=CONSUMER_QUEUES) as runtime:
        publisher = await Publisher.open(runtime.connection, runtime.broker_settings)
        try:
            report = await reconcile(
                client, MongoStripeEvents(runtime.db), publisher, runtime.clock, since=window
            )
        finally:
            await publisher.close()
    print(f"listed {report.listed}, already received {report.already_received}, fed {report.fed}")
    return 0


async def run_checkout_link(phone: str, plan: str, user_id: str | None) -> int:
    number = e164(phone)
    if number is None:
        print("--phone is not a valid phone number", file=sys.stderr)
        return 2
    billing = load_settings(BillingSettings)
    client = stripe_client(load_settings(StripeSettings), billing)
    link = await create_checkout_link(
        client,
        billing,
        phone=number,
        plan="annual" if plan == "annual" else "monthly",
        user_id=user_id,
    )
    print(link.url)
    return 0


def _duration(text: str) -> timedelta:
    try:
        return parse_since(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.billing_worker", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="consume Stripe events (the default)")
    recon = commands.add_parser("reconcile", help="feed Stripe events we never received")
    recon.add_argument(
        "--since", type=_duration, default="3d", help="how far back: 90m, 12h, 3d, 1w (≤ 30d)"
    )
    checkout = commands.add_parser("checkout-link", help="create a Stripe Checkout link")
    checkout.add_argument("--phone", required=True, help="the caregiver's phone number")
    checkout.add_argument("--plan", choices=("monthly", "annual"), default="monthly")
    checkout.add_argument("--user-id", help="the SMS worker's user id, when known")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "reconcile":
            return asyncio.run(run_reconcile(args.since))
        if args.command == "checkout-link":
            return asyncio.run(run_checkout_link(args.phone, args.plan, args.user_id))
        asyncio.run(serve())
    except (ConfigError, PriceNotConfigured) as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
