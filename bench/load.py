"""Open-loop webhook load, as Twilio produces it: caregivers texting at a fixed rate.

Requests leave on a schedule, whatever the server does, and latency counts from the scheduled
moment, so a slow server cannot hide its queue (no coordinated omission). Bodies are signed
beforehand, so signing never delays a departure.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from services.devtools.signing import twilio_signature
from services.devtools.webhooks import TWILIO_SMS_PATH

# What one caregiver texts, message by message: onboarding (name, relationship, recipient, ZIP),
# then a chat message the rules responder answers.
CAREGIVER_SCRIPT = (
    "hi",
    "Ana",
    "my mom",
    "Rose",
    "02139",
    "Long day with mom today, feeling worn out",
)
OUR_NUMBER = "+18005550100"


@dataclass(frozen=True)
class SignedSms:
    """One inbound SMS webhook, ready to post."""

    message_sid: str
    from_number: str
    content: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Outcome:
    """When a request was due (perf_counter), how long until its answer, and the status."""

    scheduled: float
    latency: float
    status: int | None


def signed_sms(
    base_url: str, auth_token: str, *, message_sid: str, from_number: str, body: str
) -> SignedSms:
    form = {
        "MessageSid": message_sid,
        "SmsMessageSid": message_sid,
        "From": from_number,
        "To": OUR_NUMBER,
        "Body": body,
        "NumMedia": "0",
    }
    signature = twilio_signature(auth_token, f"{base_url}{TWILIO_SMS_PATH}", form)
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": signature,
    }
    return SignedSms(message_sid, from_number, urlencode(form).encode(), headers)


def caregiver_phone(run: int, index: int) -> str:
    """A distinct, possible US number per (run, caregiver)."""
    return f"+1415{run % 100:02d}{index:05d}"


async def post_sms(http: httpx.AsyncClient, request: SignedSms) -> int | None:
    """Post one webhook; its HTTP status, or None when no answer came."""
    try:
        response = await http.post(
            TWILIO_SMS_PATH, content=request.content, headers=request.headers
        )
    except httpx.HTTPError:
        return None
    return response.status_code


async def open_loop(
    http: httpx.AsyncClient, requests: Sequence[SignedSms], rate: float
) -> list[Outcome]:
    """Post `requests` at `rate` per second; one outcome per request, in request order."""
    outcomes: list[Outcome | None] = [None] * len(requests)
    start = time.perf_counter()

    async def one(n: int) -> None:
        scheduled = start + n / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        status = await post_sms(http, requests[n])
        outcomes[n] = Outcome(scheduled, time.perf_counter() - scheduled, status)

    await asyncio.gather(*(one(n) for n in range(len(requests))))
    return [outcome for outcome in outcomes if outcome is not None]


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (`share` in 0..1) of `values`; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def milliseconds(seconds: float) -> float:
    return round(seconds * 1000, 2)
