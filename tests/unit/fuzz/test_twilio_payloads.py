"""Twilio webhooks: any body is a form or a 400, any form an event or a 400 naming the field,
any signature check passes or refuses; and what ingress accepts, every consumer can decode."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.devtools.signing import twilio_signature
from services.ingress.signatures import SignatureInvalid, verify_twilio
from services.ingress.webhooks import InvalidWebhook, inbound_sms, parse_form, status_update
from shared.events import new_event
from tests.support.fuzzing import (
    assert_publishable,
    fuzz_settings,
    hostile_text,
    result_or,
    twilio_sms_forms,
    twilio_status_forms,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
TOKEN = "twilio-auth-token-for-tests"
urls = st.from_regex(r"https?://[a-z0-9.-]{1,20}(:[0-9]{1,6})?/[a-z/]{0,20}", fullmatch=True)


def _assert_names_the_field(refused: InvalidWebhook) -> None:
    assert refused.field
    assert refused.detail


@fuzz_settings(120)
@given(st.binary(max_size=200) | hostile_text.map(str.encode))
def test_any_body_is_a_form_or_refused_as_the_body(body: bytes) -> None:
    form = result_or(InvalidWebhook, lambda: parse_form(body))
    if isinstance(form, InvalidWebhook):
        assert form.field == "body"
    else:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in form.items())


@fuzz_settings(120)
@given(twilio_sms_forms())
def test_a_form_is_read_back_exactly_as_encoded(form: dict[str, str]) -> None:
    assert parse_form(urlencode(form).encode()) == form


@fuzz_settings(150)
@given(twilio_sms_forms())
def test_an_inbound_sms_form_is_an_event_or_a_named_400(form: dict[str, str]) -> None:
    payload = result_or(InvalidWebhook, lambda: inbound_sms(form, NOW))
    if isinstance(payload, InvalidWebhook):
        _assert_names_the_field(payload)
        return
    assert payload.from_number == form["From"].strip()
    assert payload.body == form.get("Body", "")
    assert payload.num_media == len(payload.media)
    key = f"twilio:{payload.message_sid}"
    assert_publishable(new_event(payload, idempotency_key=key), key)


@fuzz_settings(120)
@given(twilio_status_forms(), st.none() | hostile_text)
def test_a_status_form_is_an_event_or_a_named_400(
    form: dict[str, str], outbound_key: str | None
) -> None:
    payload = result_or(InvalidWebhook, lambda: status_update(form, outbound_key, NOW))
    if isinstance(payload, InvalidWebhook):
        _assert_names_the_field(payload)
        return
    assert payload.status == payload.status.lower()
    key = f"twilio-status:{payload.message_sid}:{payload.status}"
    assert_publishable(new_event(payload, idempotency_key=key), key)


@fuzz_settings(120)
@given(urls | hostile_text, twilio_sms_forms(), st.none() | hostile_text)
def test_a_signature_check_passes_or_refuses(
    url: str, form: dict[str, str], signature: str | None
) -> None:
    refused = result_or(SignatureInvalid, lambda: verify_twilio(TOKEN, url, form, signature))
    assert refused is None or str(refused)


@fuzz_settings(120)
@given(urls, twilio_sms_forms())
def test_what_twilio_signs_verifies_and_nothing_else_does(url: str, form: dict[str, str]) -> None:
    signature = twilio_signature(TOKEN, url, form)
    refused = result_or(SignatureInvalid, lambda: verify_twilio(TOKEN, url, form, signature))
    # Only a URL whose port cannot be read is refused although signed.
    assert refused is None or "URL" in str(refused)
    tampered = {**form, "Body": form.get("Body", "") + "!"}
    with pytest.raises(SignatureInvalid):
        verify_twilio(TOKEN, url, tampered, signature)
