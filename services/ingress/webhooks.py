"""Provider payloads → event payloads, with a clear reason when a required field is missing.

Only shape is checked here; meaning (is this sender a user? is this Stripe type handled?) is for
the consumers. Field names in errors are the provider's, so an operator can find them in the
provider's logs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from shared.events.catalog import (
    MediaItem,
    SmsInboundReceived,
    SmsStatusUpdated,
    StripeEventReceived,
)

_MAX_MEDIA = 10
_STRIPE_TYPE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")


class InvalidWebhook(Exception):
    """The request is genuine but unusable; `field` names what is missing or malformed."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


def parse_form(body: bytes) -> dict[str, str]:
    """Decode an application/x-www-form-urlencoded body (Twilio's webhook format)."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError):
        raise InvalidWebhook("body", "not a valid form-encoded body") from None
    return dict(pairs)


def _required(form: Mapping[str, str], *names: str) -> str:
    for name in names:
        value = form.get(name, "").strip()
        if value:
            return value
    raise InvalidWebhook(names[0], "missing")


def _bounded_int(form: Mapping[str, str], name: str, low: int, high: int) -> int:
    raw = form.get(name, "0").strip() or "0"
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidWebhook(name, f"must be a whole number from {low} to {high}")
    return int(raw)


def inbound_sms(form: Mapping[str, str], received_at: datetime) -> SmsInboundReceived:
    num_media = _bounded_int(form, "NumMedia", 0, _MAX_MEDIA)
    media = []
    for index in range(num_media):
        url = form.get(f"MediaUrl{index}", "").strip()
        if not url:
            raise InvalidWebhook(f"MediaUrl{index}", "missing while NumMedia says it exists")
        media.append(MediaItem(url=url, content_type=form.get(f"MediaContentType{index}") or None))
    return SmsInboundReceived(
        message_sid=_required(form, "MessageSid", "SmsMessageSid", "SmsSid"),
        account_sid=form.get("AccountSid") or None,
        from_number=_required(form, "From"),
        to_number=_required(form, "To"),
        body=form.get("Body", ""),
        num_media=num_media,
        media=media,
        opt_out_type=form.get("OptOutType") or None,
        received_at=received_at,
    )


def status_update(
    form: Mapping[str, str], outbound_key: str | None, received_at: datetime
) -> SmsStatusUpdated:
    error_code = form.get("ErrorCode", "").strip()
    if error_code and not error_code.isdigit():
        raise InvalidWebhook("ErrorCode", "must be a number")
    return SmsStatusUpdated(
        message_sid=_required(form, "MessageSid", "SmsSid"),
        status=_required(form, "MessageStatus", "SmsStatus").lower(),
        error_code=int(error_code) if error_code else None,
        outbound_key=outbound_key or None,
        to_number=form.get("To") or None,
        received_at=received_at,
    )


def stripe_event(body: bytes, received_at: datetime) -> StripeEventReceived:
    try:
        document: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidWebhook("body", "not JSON") from None
    if not isinstance(document, dict):
        raise InvalidWebhook("body", "not a JSON object")
    event_id = document.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise InvalidWebhook("id", "missing")
    event_type = document.get("type")
    if not isinstance(event_type, str) or not _STRIPE_TYPE.match(event_type):
        raise InvalidWebhook("type", "missing or not a Stripe event type")
    created = document.get("created")
    if not isinstance(created, int) or isinstance(created, bool) or created < 0:
        raise InvalidWebhook("created", "missing or not a Unix timestamp")
    data = document.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise InvalidWebhook("data.object", "missing")
    previous = data.get("previous_attributes")
    api_version = document.get("api_version")
    return StripeEventReceived(
        stripe_event_id=event_id,
        stripe_type=event_type,
        created=datetime.fromtimestamp(created, UTC),
        livemode=bool(document.get("livemode", False)),
        api_version=api_version if isinstance(api_version, str) else None,
        data_object=data["object"],
        previous_attributes=previous if isinstance(previous, dict) else None,
        received_at=received_at,
    )
