"""Provider payloads → event payloads: what is carried over, and the field named when not."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from services.ingress.webhooks import (
    InvalidWebhook,
    inbound_sms,
    parse_form,
    status_update,
    stripe_event,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SMS = {
    "MessageSid": "SM0001",
    "AccountSid": "AC0001",
    "From": "+15551230000",
    "To": "+15559870000",
    "Body": "hello there",
    "NumMedia": "0",
}


def test_form_decoding_keeps_blank_values_and_plus_signs() -> None:
    assert parse_form(b"From=%2B15551230000&Body=&To=%2B1555") == {
        "From": "+15551230000",
        "Body": "",
        "To": "+1555",
    }
    assert parse_form(b"") == {}


@pytest.mark.parametrize("body", [b"\xff\xfe", b"a=1&&b"], ids=["not-utf8", "malformed"])
def test_undecodable_forms_are_refused(body: bytes) -> None:
    with pytest.raises(InvalidWebhook) as caught:
        parse_form(body)
    assert caught.value.field == "body"


def test_inbound_sms_carries_sender_body_and_media() -> None:
    form = {
        **SMS,
        "NumMedia": "2",
        "MediaUrl0": "https://media.example/1",
        "MediaContentType0": "image/jpeg",
        "MediaUrl1": "https://media.example/2",
        "OptOutType": "STOP",
    }
    payload = inbound_sms(form, NOW)
    assert payload.message_sid == "SM0001"
    assert payload.from_number == "+15551230000"
    assert payload.body == "hello there"
    assert [m.url for m in payload.media] == ["https://media.example/1", "https://media.example/2"]
    assert payload.media[0].content_type == "image/jpeg"
    assert payload.media[1].content_type is None
    assert payload.opt_out_type == "STOP"
    assert payload.received_at == NOW


def test_legacy_sid_field_is_accepted_and_empty_body_is_fine_for_mms() -> None:
    form = {k: v for k, v in SMS.items() if k != "MessageSid"} | {"SmsSid": "SM9", "Body": ""}
    payload = inbound_sms(form, NOW)
    assert payload.message_sid == "SM9"
    assert payload.body == ""


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"MessageSid": ""}, "MessageSid"),
        ({"From": ""}, "From"),
        ({"To": " "}, "To"),
        ({"NumMedia": "x"}, "NumMedia"),
        ({"NumMedia": "11"}, "NumMedia"),
        ({"NumMedia": "1"}, "MediaUrl0"),
    ],
)
def test_inbound_sms_names_the_bad_field(change: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidWebhook) as caught:
        inbound_sms({**SMS, **change}, NOW)
    assert caught.value.field == field


def test_status_update_normalises_status_and_error_code() -> None:
    payload = status_update(
        {"MessageSid": "SM1", "MessageStatus": "Undelivered", "ErrorCode": "30003"}, "reply:1", NOW
    )
    assert (payload.status, payload.error_code, payload.outbound_key) == (
        "undelivered",
        30003,
        "reply:1",
    )
    assert status_update({"SmsSid": "SM1", "SmsStatus": "sent"}, None, NOW).error_code is None


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"MessageStatus": "sent"}, "MessageSid"),
        ({"MessageSid": "SM1"}, "MessageStatus"),
        ({"MessageSid": "SM1", "MessageStatus": "failed", "ErrorCode": "oops"}, "ErrorCode"),
    ],
)
def test_status_update_names_the_bad_field(form: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidWebhook) as caught:
        status_update(form, None, NOW)
    assert caught.value.field == field


STRIPE: dict[str, Any] = {
    "id": "evt_1",
    "type": "customer.subscription.updated",
    "created": 1_800_000_000,
    "livemode": False,
    "api_version": "2025-01-27",
    "data": {
        "object": {"id": "sub_1", "status": "active"},
        "previous_attributes": {"status": "trialing"},
    },
}


def test_stripe_event_keeps_object_and_previous_attributes() -> None:
    payload = stripe_event(json.dumps(STRIPE).encode(), NOW)
    assert payload.stripe_event_id == "evt_1"
    assert payload.stripe_type == "customer.subscription.updated"
    assert payload.created == datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
    assert payload.data_object == {"id": "sub_1", "status": "active"}
    assert payload.previous_attributes == {"status": "trialing"}


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (b"not json", "body"),
        (b"[]", "body"),
        (json.dumps({**STRIPE, "id": ""}).encode(), "id"),
        (json.dumps({**STRIPE, "type": "Bad Type"}).encode(), "type"),
        (json.dumps({**STRIPE, "created": "yesterday"}).encode(), "created"),
        (json.dumps({**STRIPE, "created": True}).encode(), "created"),
        (json.dumps({**STRIPE, "data": {}}).encode(), "data.object"),
    ],
    ids=["not-json", "not-object", "id", "type", "created", "created-bool", "data"],
)
def test_stripe_event_names_the_bad_field(document: bytes, field: str) -> None:
    with pytest.raises(InvalidWebhook) as caught:
        stripe_event(document, NOW)
    assert caught.value.field == field
