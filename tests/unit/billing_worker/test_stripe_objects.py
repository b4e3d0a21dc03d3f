"""Reading Stripe objects of old and new API versions, metadata links, texts and CLI windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.billing_worker.domain.messages import payment_failed_text, signup_link
from services.billing_worker.reconcile import parse_since
from services.billing_worker.stripe_objects import (
    LinkHint,
    MalformedStripeObject,
    customer_id,
    e164,
    invoice_subscription_id,
    link_hint,
    stripe_event_payload,
    subscription_state,
)
from services.devtools.stripe_events import event_object, invoice_object, subscription_object

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_subscription_of_current_api_reads_the_period_end_from_its_items() -> None:
    obj = subscription_object(
        "sub_1", "cus_1", "canceled", current_period_end=T, canceled_at=T, trial_end=T
    )
    obj["items"]["data"].append({"id": "si_2", "current_period_end": int(T.timestamp()) - 60})
    state = subscription_state(obj)
    assert (state.subscription_id, state.customer_id, state.status) == (
        "sub_1",
        "cus_1",
        "canceled",
    )
    assert state.current_period_end == T  # the latest item's end
    assert (state.canceled_at, state.trial_end, state.cancel_at_period_end) == (T, T, False)


def test_subscription_of_older_api_has_the_period_end_at_the_top_and_may_be_expanded() -> None:
    obj = {
        "id": "sub_1",
        "customer": {"id": "cus_1", "object": "customer"},
        "status": "active",
        "current_period_end": int(T.timestamp()),
        "cancel_at_period_end": True,
    }
    state = subscription_state(obj)
    assert (state.customer_id, state.current_period_end, state.cancel_at_period_end) == (
        "cus_1",
        T,
        True,
    )


@pytest.mark.parametrize(
    "obj",
    [{"status": "active"}, {"id": "sub_1"}, {"id": "sub_1", "status": ""}],
    ids=["no-id", "no-status", "empty-status"],
)
def test_subscription_without_id_or_status_is_malformed(obj: dict[str, Any]) -> None:
    with pytest.raises(MalformedStripeObject):
        subscription_state(obj)


def test_invoice_subscription_in_both_api_shapes() -> None:
    assert invoice_subscription_id(invoice_object("in_1", "cus_1", "sub_new")) == "sub_new"
    assert invoice_subscription_id({"id": "in_1", "subscription": "sub_old"}) == "sub_old"
    assert invoice_subscription_id({"id": "in_1"}) is None


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (
            {"metadata": {"phone": "+1 (555) 555-0100", "user_id": "u-1"}},
            LinkHint("+15555550100", "u-1"),
        ),
        ({"metadata": {"phone": "555.555.0100"}}, LinkHint("+15555550100", None)),
        ({"metadata": {}, "client_reference_id": "u-2"}, LinkHint(None, "u-2")),
        ({"metadata": {"phone": "call me"}}, LinkHint(None, None)),
        ({"metadata": None}, LinkHint(None, None)),
        (
            {"parent": {"subscription_details": {"metadata": {"phone": "+447700900123"}}}},
            LinkHint("+447700900123", None),
        ),
    ],
    ids=["phone-and-user", "us-national", "client-reference", "garbage", "none", "invoice-parent"],
)
def test_link_hint_from_metadata(obj: dict[str, Any], expected: LinkHint) -> None:
    assert link_hint(obj) == expected


@pytest.mark.parametrize("raw", [None, "", "  ", 15555550100, "12", "+1555"])
def test_e164_rejects_what_cannot_be_a_number(raw: object) -> None:
    assert e164(raw) is None


def test_customer_id_plain_or_expanded() -> None:
    assert customer_id({"customer": "cus_1"}) == "cus_1"
    assert customer_id({"customer": {"id": "cus_2"}}) == "cus_2"
    assert customer_id({"customer": None}) is None


def test_listed_stripe_event_becomes_the_payload_ingress_publishes() -> None:
    document = event_object(
        "evt_1",
        "customer.subscription.updated",
        T,
        {"id": "sub_1"},
        previous_attributes={"status": "active"},
    )
    payload = stripe_event_payload(document, received_at=T)
    assert (payload.stripe_event_id, payload.stripe_type, payload.created) == (
        "evt_1",
        "customer.subscription.updated",
        T,
    )
    assert payload.data_object == {"id": "sub_1"}
    assert payload.previous_attributes == {"status": "active"}
    with pytest.raises(MalformedStripeObject):
        stripe_event_payload({**document, "data": {}}, received_at=T)
    with pytest.raises(MalformedStripeObject):
        stripe_event_payload({**document, "created": "yesterday"}, received_at=T)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://g.example/signup", "https://g.example/signup?phone=%2B15555550100"),
        ("https://g.example/s?ref=sms", "https://g.example/s?ref=sms&phone=%2B15555550100"),
        ("https://g.example/s?phone=old", "https://g.example/s?phone=%2B15555550100"),
    ],
)
def test_signup_link_carries_the_phone(url: str, expected: str) -> None:
    assert signup_link(url, "+15555550100") == expected


def test_payment_failed_text_fits_two_segments_and_links() -> None:
    link = signup_link("https://givecare.example/signup", "+15555550100")
    text = payment_failed_text(link)
    assert text.endswith(link)
    assert len(text) <= 306


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("12h", timedelta(hours=12)),
        ("3d", timedelta(days=3)),
        (" 1w ", timedelta(weeks=1)),
        ("30d", timedelta(days=30)),
    ],
)
def test_since_windows(text: str, expected: timedelta) -> None:
    assert parse_since(text) == expected


@pytest.mark.parametrize("text", ["", "3", "d", "-1d", "0h", "31d", "5w", "3 days", "1.5d"])
def test_since_refuses_what_stripe_cannot_answer(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_since(text)
