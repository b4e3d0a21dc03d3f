"""`givecare billing reconcile|checkout-link|request`: the Stripe work only billing may do.

* **Remote** (`GIVECARE_API_URL`): the admin API passes the request to the billing worker — the
  one holder of the Stripe key — and the command waits (`--wait`) for what it made of it,
  printing the request (`BillingRequest`): `done` with the result, `failed` with the reason,
  or still `requested` (exit 7) when the wait ran out (`givecare billing request ID` later).
* **Direct**: the billing worker's own code runs here, so it needs the billing worker's
  environment (STRIPE_API_KEY, BILLING_*, its broker and database): e.g.
  `kubectl exec deploy/billing-worker -- givecare billing reconcile --since 3d`. It prints the
  result itself (`ReconcileFigures`, `CheckoutLink`).
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Annotated, Final, Literal

import stripe
import typer

from services.admin.schemas import BillingRequest, CheckoutLink, ReconcileFigures
from services.billing_worker.checkout import PriceNotConfigured, create_checkout_link
from services.billing_worker.reconcile import parse_since, reconcile
from services.billing_worker.settings import BillingSettings
from services.billing_worker.store import MongoStripeEvents
from services.billing_worker.stripe_client import stripe_client
from services.cli.console import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_PENDING,
    fail,
    print_json,
    run,
    run_remote,
    target,
)
from services.cli.options import CaregiverPhone
from services.cli.remote import AdminClient
from services.queues import CONSUMER_QUEUES
from shared.broker import Publisher, connect
from shared.clock import SystemClock
from shared.config import BrokerSettings, MongoSettings, StripeSettings, load_settings
from shared.mongo import create_client, service_database
from shared.worker import declare_topology

billing_app = typer.Typer(
    help="Stripe: reconcile missed events, Checkout links (billing holds the key).",
    no_args_is_help=True,
)

_POLL_SECONDS: Final = 1.0
Plan = Literal["monthly", "annual"]


def _window(text: str) -> timedelta:
    try:
        return parse_since(text)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


Wait = Annotated[
    float,
    typer.Option(min=0, help="remote: seconds to wait for billing's answer (0: do not wait)"),
]


@billing_app.command("reconcile")
def reconcile_missed(
    since: Annotated[str, typer.Option(help="how far back: 90m, 12h, 3d, 1w (at most 30d)")] = "3d",
    wait: Wait = 60,
) -> None:
    """Feed the Stripe events of the window that billing never received (the scheduled
    reconcile's code, on demand; running it twice is harmless)."""
    window = _window(since)
    if target().api_url is not None:

        async def ask(client: AdminClient) -> BillingRequest:
            sent = await client.request_reconcile(since_seconds=int(window.total_seconds()))
            return await _handled(client, sent, wait)

        _answer(run_remote(ask))
        return
    print_json(run(lambda: _reconcile_here(window)))


@billing_app.command("checkout-link")
def checkout_link(
    phone: CaregiverPhone,
    plan: Annotated[str, typer.Option(help="monthly or annual")] = "monthly",
    user_id: Annotated[
        str | None,
        typer.Option(help="direct: the SMS worker's user id (remote: found from the phone)"),
    ] = None,
    wait: Wait = 60,
) -> None:
    """A subscription Checkout link for the caregiver (promotion codes allowed)."""
    if plan not in ("monthly", "annual"):
        fail(EXIT_INVALID, "invalid_request", "--plan is monthly or annual")
    chosen: Plan = "annual" if plan == "annual" else "monthly"
    if target().api_url is not None:
        if user_id is not None:
            fail(EXIT_INVALID, "invalid_request", "remotely the user id is found from the phone")

        async def ask(client: AdminClient) -> BillingRequest:
            sent = await client.request_checkout_link(phone, plan=chosen)
            return await _handled(client, sent, wait)

        _answer(run_remote(ask))
        return
    print_json(run(lambda: _checkout_link_here(phone, chosen, user_id)))


@billing_app.command("request")
def request(
    request_id: Annotated[str, typer.Argument(help="the id a remote request answered with")],
    wait: Wait = 0,
) -> None:
    """What became of an earlier remote request (remote mode only)."""

    async def ask(client: AdminClient) -> BillingRequest:
        return await _handled(client, await client.billing_request(request_id), wait)

    _answer(run_remote(ask))


async def _handled(client: AdminClient, answer: BillingRequest, wait: float) -> BillingRequest:
    """The request once billing has handled it, or as it stands when `wait` runs out."""
    deadline = time.monotonic() + wait
    while answer.status == "requested" and time.monotonic() < deadline:
        await asyncio.sleep(min(_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        answer = await client.billing_request(answer.request_id)
    return answer


def _answer(answer: BillingRequest) -> None:
    print_json(answer)
    if answer.status == "requested":
        raise typer.Exit(EXIT_PENDING)
    if answer.status == "failed":
        raise typer.Exit(EXIT_FAILED)


async def _reconcile_here(window: timedelta) -> ReconcileFigures:
    """`reconcile` in this process, publishing what it feeds as ingress would have."""
    client = stripe_client(load_settings(StripeSettings), load_settings(BillingSettings))
    broker, mongo = load_settings(BrokerSettings), load_settings(MongoSettings)
    database = create_client(mongo, app_name="givecare-cli")
    connection = await connect(broker, name="givecare-cli")
    try:
        await declare_topology(connection, broker, CONSUMER_QUEUES)
        publisher = await Publisher.open(connection, broker)
        try:
            events = MongoStripeEvents(service_database(database, mongo, "billing_worker"))
            report = await reconcile(client, events, publisher, SystemClock(), since=window)
        finally:
            await publisher.close()
    except stripe.StripeError as error:
        fail(EXIT_FAILED, "stripe_error", type(error).__name__)
    finally:
        await connection.close()
        await database.close()
    return ReconcileFigures.of(report)


async def _checkout_link_here(phone: str, plan: Plan, user_id: str | None) -> CheckoutLink:
    billing = load_settings(BillingSettings)
    client = stripe_client(load_settings(StripeSettings), billing)
    try:
        link = await create_checkout_link(client, billing, phone=phone, plan=plan, user_id=user_id)
    except PriceNotConfigured as error:
        fail(EXIT_INVALID, "invalid_configuration", str(error))
    except stripe.StripeError as error:
        fail(EXIT_FAILED, "stripe_error", type(error).__name__)
    return CheckoutLink(session_id=link.session_id, url=link.url)
