"""Signature checks: genuine requests pass; tampering, rotation edge cases and clock games fail."""

from __future__ import annotations

import json
import time

import pytest

from services.devtools.signing import stripe_signature_header, twilio_signature
from services.ingress.signatures import SignatureInvalid, verify_stripe, verify_twilio

TOKEN = "twilio-auth-token-for-tests"
URL = "https://givecare.example/webhooks/twilio/sms"
FORM = {"MessageSid": "SM123", "From": "+15551230000", "To": "+15559870000", "Body": "hi"}


def test_twilio_genuine_request_passes() -> None:
    verify_twilio(TOKEN, URL, FORM, twilio_signature(TOKEN, URL, FORM))


@pytest.mark.parametrize(
    ("url", "form", "token"),
    [
        (URL, {**FORM, "Body": "hi!"}, TOKEN),
        ("https://givecare.example/webhooks/twilio/status", FORM, TOKEN),
        ("http://givecare.example/webhooks/twilio/sms", FORM, TOKEN),
        (URL, FORM, "another-token"),
        (URL, {**FORM, "Extra": "1"}, TOKEN),
    ],
    ids=["body", "path", "scheme", "token", "added-field"],
)
def test_twilio_tampering_fails(url: str, form: dict[str, str], token: str) -> None:
    signature = twilio_signature(token, url, form)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_twilio(TOKEN, URL, FORM, signature)


def test_twilio_missing_signature_fails() -> None:
    with pytest.raises(SignatureInvalid, match="missing"):
        verify_twilio(TOKEN, URL, FORM, None)


PAYLOAD = json.dumps({"id": "evt_1", "type": "invoice.paid"}).encode()
NEW, OLD = "whsec_new", "whsec_old"
NOW = 1_800_000_000


def _verify(header: str | None, secrets: list[str], payload: bytes = PAYLOAD) -> None:
    verify_stripe(
        payload,
        header,
        secrets,
        tolerance_seconds=300,
        max_future_skew_seconds=300,
        now=NOW,
    )


def test_stripe_genuine_event_passes() -> None:
    _verify(stripe_signature_header(PAYLOAD, [NEW], timestamp=NOW), [NEW])


def test_stripe_rolling_endpoint_secret_sends_two_signatures_and_either_matches() -> None:
    header = stripe_signature_header(PAYLOAD, [OLD, NEW], timestamp=NOW)
    _verify(header, [NEW])
    _verify(header, [OLD])


def test_stripe_we_may_hold_several_secrets_during_our_rotation() -> None:
    _verify(stripe_signature_header(PAYLOAD, [OLD], timestamp=NOW), [NEW, OLD])


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("v1=abc", "no valid timestamp"),
        ("t=abc,v1=abc", "no valid timestamp"),
        (stripe_signature_header(PAYLOAD, ["whsec_other"], timestamp=NOW), "does not match"),
        (stripe_signature_header(PAYLOAD, [NEW], timestamp=NOW - 301), "outside the tolerance"),
        (stripe_signature_header(PAYLOAD, [NEW], timestamp=NOW + 301), "in the future"),
    ],
    ids=["missing", "no-timestamp", "bad-timestamp", "wrong-secret", "too-old", "future"],
)
def test_stripe_refusals(header: str | None, reason: str) -> None:
    with pytest.raises(SignatureInvalid, match=reason):
        _verify(header, [NEW])


def test_stripe_tampered_body_fails() -> None:
    header = stripe_signature_header(PAYLOAD, [NEW], timestamp=NOW)
    with pytest.raises(SignatureInvalid, match="does not match"):
        _verify(header, [NEW], payload=PAYLOAD.replace(b"evt_1", b"evt_2"))


def test_stripe_without_configured_secret_fails() -> None:
    with pytest.raises(SignatureInvalid, match="no Stripe webhook secret"):
        _verify(stripe_signature_header(PAYLOAD, [NEW], timestamp=NOW), [])


def test_stripe_small_clock_skew_is_tolerated() -> None:
    _verify(stripe_signature_header(PAYLOAD, [NEW], timestamp=NOW + 30), [NEW])
    verify_stripe(
        PAYLOAD,
        stripe_signature_header(PAYLOAD, [NEW]),
        [NEW],
        tolerance_seconds=300,
        max_future_skew_seconds=300,
        now=time.time(),
    )
