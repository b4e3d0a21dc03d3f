"""`givecare stripe send <type> --phone ...`: a signed Stripe test event to the local ingress.

The event is shaped like Stripe's (`services.devtools.stripe_events`), for one caregiver the way
our Checkout link sets them up, and signed with the endpoint secret ingress checks — so billing
can be walked through locally: checkout → subscription → invoice paid or failed → canceled.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import httpx
import typer

from services.cli.options import CaregiverPhone, DevtoolsEnv
from services.devtools.local_run import DEFAULT_DEVTOOLS_ENV, LocalRun
from services.devtools.stripe_events import BillingEventType, caregiver_event
from services.devtools.webhooks import IngressWebhooks, WebhookRefused

app = typer.Typer(help="Stripe, locally: send signed test events to ingress.", no_args_is_help=True)


async def _send(local: LocalRun, event: dict[str, Any]) -> None:
    webhooks = IngressWebhooks(
        local.ingress_url, twilio_auth_token=None, stripe_secrets=local.stripe_secrets
    )
    try:
        await webhooks.stripe_event(event)
    finally:
        await webhooks.aclose()


@app.command()
def send(
    event_type: Annotated[BillingEventType, typer.Argument(help="The Stripe event type.")],
    phone: CaregiverPhone,
    status: Annotated[
        str,
        typer.Option(help="Subscription status for customer.subscription.created/updated."),
    ] = "active",
    event_id: Annotated[
        str | None, typer.Option(help="Reuse an event id, to see a duplicate dropped.")
    ] = None,
    invoice_id: Annotated[
        str | None, typer.Option(help="Reuse an invoice id (invoice.* events).")
    ] = None,
    env_file: DevtoolsEnv = DEFAULT_DEVTOOLS_ENV,
) -> None:
    """Send one signed Stripe event about the caregiver with this phone number."""
    local = LocalRun.load(env_file)
    if not local.stripe_secrets:
        typer.echo("no STRIPE_WEBHOOK_SECRET to sign with: start `make run` first", err=True)
        raise typer.Exit(1)
    event = caregiver_event(
        event_type, phone, status=status, event_id=event_id, invoice_id=invoice_id
    )
    try:
        asyncio.run(_send(local, event))
    except WebhookRefused as refusal:
        typer.echo(f"not accepted: {refusal}", err=True)
        raise typer.Exit(1) from None
    except httpx.TransportError:
        typer.echo(f"ingress is not answering at {local.ingress_url}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{event_type.value} {event['id']} accepted by {local.ingress_url}")
