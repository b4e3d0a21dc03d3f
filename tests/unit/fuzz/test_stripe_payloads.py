"""Stripe webhooks and objects: any body is an event or a 400 naming the field, any signature
header passes or refuses, any object reads as billing terms or `MalformedStripeObject`; and
what ingress accepts, the billing worker can decode."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.billing_worker.stripe_objects import (
    MalformedStripeObject,
    customer_id,
    has_status,
    invoice_subscription_id,
    link_hint,
    object_id,
    stripe_event_payload,
    subscription_state,
    timestamp,
)
from services.devtools.signing import stripe_signature_header
from services.ingress.signatures import SignatureInvalid, verify_stripe
from services.ingress.webhooks import InvalidWebhook, stripe_event
from shared.events import new_event
from shared.phones import normalise_phone
from tests.support.fuzzing import (
    assert_publishable,
    fuzz_settings,
    hostile_text,
    json_values,
    result_or,
    stripe_bodies,
    stripe_event_documents,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CLOCK = 1_800_000_000
SECRETS = ["whsec_new", "whsec_old"]
json_objects = st.dictionaries(st.text(max_size=12), json_values, max_size=6)
# Objects shaped like subscriptions and invoices, with every field possibly bent.
stripe_objects = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values | st.just("sub_1"),
        "status": json_values | st.just("active"),
        "customer": json_values | st.just({"id": "cus_1"}),
        "current_period_end": json_values | st.just(CLOCK),
        "canceled_at": json_values | st.sampled_from([10**12, -(10**12), 10**20]),
        "trial_end": json_values,
        "items": json_values | st.just({"data": [{"current_period_end": 10**15}, None]}),
        "metadata": json_values | st.fixed_dictionaries({"phone": json_values | hostile_text}),
        "parent": json_values,
        "subscription": json_values,
        "client_reference_id": json_values,
    },
)


def _verify(body: bytes, header: str | None, now: float = CLOCK) -> None:
    verify_stripe(
        body, header, SECRETS, tolerance_seconds=300, max_future_skew_seconds=300, now=now
    )


@fuzz_settings(150)
@given(stripe_bodies())
def test_a_body_is_an_event_or_a_named_400_and_decodes_downstream(body: bytes) -> None:
    payload = result_or(InvalidWebhook, lambda: stripe_event(body, NOW))
    if isinstance(payload, InvalidWebhook):
        assert payload.field
        assert payload.detail
        return
    key = f"stripe:{payload.stripe_event_id}"
    event_type = f"billing.stripe.{payload.stripe_type}"
    assert_publishable(new_event(payload, event_type=event_type, idempotency_key=key), key)


@fuzz_settings(120)
@given(st.none() | hostile_text | st.text(st.characters(max_codepoint=0xFF), max_size=80))
def test_any_signature_header_passes_or_refuses(header: str | None) -> None:
    refused = result_or(SignatureInvalid, lambda: _verify(b'{"id": "evt_1"}', header))
    assert refused is None or str(refused)


@fuzz_settings(100)
@given(
    stripe_event_documents().map(lambda document: json.dumps(document).encode()),
    st.sampled_from(SECRETS),
    st.integers(-300, 300),
)
def test_what_stripe_signs_verifies_and_a_changed_body_does_not(
    body: bytes, secret: str, skew: int
) -> None:
    header = stripe_signature_header(body, [secret], timestamp=CLOCK + skew)
    _verify(body, header)
    with pytest.raises(SignatureInvalid):
        _verify(body + b" ", header)


@fuzz_settings(120)
@given(json_values)
def test_a_timestamp_is_an_aware_time_or_none(value: Any) -> None:
    moment = timestamp(value)
    assert moment is None or moment.tzinfo is not None


@fuzz_settings(150)
@given(stripe_objects | json_objects)
def test_any_object_reads_as_billing_terms_or_is_malformed(obj: Mapping[str, Any]) -> None:
    hint = link_hint(obj)
    if hint.phone is not None:
        assert normalise_phone(hint.phone) == hint.phone
    assert customer_id(obj) is None or isinstance(customer_id(obj), str)
    assert invoice_subscription_id(obj) is None or isinstance(invoice_subscription_id(obj), str)
    state = result_or(MalformedStripeObject, lambda: subscription_state(obj))
    if isinstance(state, MalformedStripeObject):
        assert object_id(obj.get("id")) is None or not has_status(obj)
    else:
        assert state.subscription_id
        assert state.status


@fuzz_settings(120)
@given(stripe_event_documents())
def test_a_listed_event_is_a_payload_or_malformed(document: Any) -> None:
    if not isinstance(document, dict):
        return
    payload = result_or(MalformedStripeObject, lambda: stripe_event_payload(document, NOW))
    if not isinstance(payload, MalformedStripeObject):
        assert payload.stripe_event_id == document["id"]
