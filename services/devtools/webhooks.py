"""Webhooks to ingress as Twilio and Stripe send them: form or JSON bodies, correctly signed.

`givecare chat`, `givecare stripe send` and the end-to-end tests all talk to a running ingress
through this one client, so what they exercise is exactly what the providers would send.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import httpx

from services.devtools.signing import stripe_signature_header, twilio_signature

TWILIO_SMS_PATH = "/webhooks/twilio/sms"
STRIPE_PATH = "/webhooks/stripe"


class WebhookRefused(Exception):
    """Ingress did not accept the webhook; the message carries its status and JSON reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"ingress answered {status}: {reason}")
        self.status = status


class IngressWebhooks:
    """Signs and posts webhooks to the ingress at `base_url`, which must be the URL ingress
    believes it is called at (`PUBLIC_BASE_URL`): Twilio signs the full URL."""

    def __init__(
        self,
        base_url: str,
        *,
        twilio_auth_token: str | None,
        stripe_secrets: Sequence[str] = (),
        account_sid: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._twilio_auth_token = twilio_auth_token
        self._stripe_secrets = tuple(stripe_secrets)
        self._account_sid = account_sid
        self._http = httpx.AsyncClient(timeout=timeout)

    async def text(
        self, from_number: str, body: str, *, to_number: str, message_sid: str | None = None
    ) -> str:
        """An inbound SMS from `from_number` to our `to_number`; returns its MessageSid."""
        if not self._twilio_auth_token:
            raise ValueError("a Twilio auth token is needed to sign SMS webhooks")
        sid = message_sid or f"SM{uuid.uuid4().hex}"
        form = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "From": from_number,
            "To": to_number,
            "Body": body,
            "NumMedia": "0",
            **({"AccountSid": self._account_sid} if self._account_sid else {}),
        }
        url = self.base_url + TWILIO_SMS_PATH
        signature = twilio_signature(self._twilio_auth_token, url, form)
        response = await self._http.post(url, data=form, headers={"X-Twilio-Signature": signature})
        _raise_for_refusal(response)
        return sid

    async def stripe_event(self, event: dict[str, Any]) -> None:
        """One Stripe event, signed with every configured endpoint secret."""
        if not self._stripe_secrets:
            raise ValueError("a Stripe webhook secret is needed to sign Stripe events")
        payload = json.dumps(event).encode()
        response = await self._http.post(
            self.base_url + STRIPE_PATH,
            content=payload,
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": stripe_signature_header(payload, self._stripe_secrets),
            },
        )
        _raise_for_refusal(response)

    async def aclose(self) -> None:
        await self._http.aclose()


def _raise_for_refusal(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        reason = json.dumps(response.json())
    except ValueError:
        reason = response.reason_phrase
    raise WebhookRefused(response.status_code, reason)
