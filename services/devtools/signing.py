"""Signing webhooks the way Twilio and Stripe do, so tools and tests send genuine requests."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

from twilio.request_validator import RequestValidator


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    signature: str = RequestValidator(auth_token).compute_signature(url, dict(params))
    return signature


def stripe_signature_header(
    payload: bytes, secrets: Sequence[str], *, timestamp: int | None = None
) -> str:
    """A `Stripe-Signature` header with one `v1` per secret (Stripe sends several while an
    endpoint secret is being rolled)."""
    moment = int(time.time()) if timestamp is None else timestamp
    signed = f"{moment}.".encode() + payload
    parts = [f"t={moment}"]
    for secret in secrets:
        digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        parts.append(f"v1={digest}")
    return ",".join(parts)
