"""Is this webhook genuine? Twilio's and Stripe's signature schemes, through their own SDKs.

Pure functions of (secret, request data, now) so every edge — rotation, tampering, replays from
the future — is unit-tested without a server.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import stripe
from twilio.request_validator import (
    HMAC_SHA1,
    HMAC_SHA256,
    RequestValidator,
    get_signature_algorithm,
)

# The schemes Twilio signs webhooks with, as its SDK validates them: HMAC-SHA1 with the auth
# token (the default), or HMAC-SHA256 with a SharedKey secret when the request names it in
# X-Twilio-Webhooks-Signature-Settings.
TWILIO_ALGORITHMS = frozenset({HMAC_SHA1, HMAC_SHA256})


class SignatureInvalid(Exception):
    """The request was not signed by the provider with a secret we hold; the message says why
    (never the signature itself)."""


def verify_twilio(
    auth_tokens: str | Sequence[str],
    url: str,
    params: Mapping[str, str],
    signature: str | None,
    signature_settings: str | None = None,
) -> None:
    """An HMAC over the full URL Twilio called plus the sorted form parameters, made with any of
    `auth_tokens` (several while a token is rotated); SHA-1 unless `signature_settings` (the
    X-Twilio-Webhooks-Signature-Settings header) names HMAC_SHA256."""
    if not signature:
        raise SignatureInvalid("missing X-Twilio-Signature")
    tokens = [auth_tokens] if isinstance(auth_tokens, str) else list(auth_tokens)
    if not tokens:
        raise SignatureInvalid("no Twilio auth token configured")
    algorithm = get_signature_algorithm(signature_settings).upper()
    if algorithm not in TWILIO_ALGORITHMS:
        raise SignatureInvalid("X-Twilio-Webhooks-Signature-Settings names an unknown algorithm")
    form = dict(params)
    for token in tokens:
        try:
            valid = RequestValidator(token).validate(url, form, signature, algorithm)
        except ValueError:
            # The SDK parses the URL's port; a forged Host (`x:99999`) must not become a 500.
            raise SignatureInvalid("the URL of the request cannot be checked") from None
        if valid:
            return
    raise SignatureInvalid("X-Twilio-Signature does not match")


def verify_stripe(
    payload: bytes,
    header: str | None,
    secrets: Sequence[str],
    *,
    tolerance_seconds: int,
    max_future_skew_seconds: int,
    now: float | None = None,
) -> None:
    """Stripe-Signature over the raw body: any configured secret may match any `v1` signature
    (both sides rotate), the timestamp must be recent, and not from the future."""
    if not header:
        raise SignatureInvalid("missing Stripe-Signature")
    if not header.isascii():
        # Stripe's header is ASCII; the SDK's constant-time compare raises TypeError otherwise.
        raise SignatureInvalid("Stripe-Signature is not ASCII")
    if not secrets:
        raise SignatureInvalid("no Stripe webhook secret configured")
    timestamp = _stripe_timestamp(header)
    current = time.time() if now is None else now
    if timestamp > current + max_future_skew_seconds:
        raise SignatureInvalid("Stripe-Signature timestamp is in the future")
    if timestamp < current - tolerance_seconds:
        raise SignatureInvalid("Stripe-Signature timestamp is outside the tolerance")
    text = payload.decode("utf-8", errors="replace")
    for secret in secrets:
        try:
            # The SDK checks the age itself against the real clock; ours is checked above.
            stripe.WebhookSignature.verify_header(text, header, secret, tolerance=None)
        except stripe.SignatureVerificationError:
            continue
        return
    raise SignatureInvalid("Stripe-Signature does not match")


def _stripe_timestamp(header: str) -> int:
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                return int(value)
            except ValueError:
                break
    raise SignatureInvalid("Stripe-Signature has no valid timestamp")
