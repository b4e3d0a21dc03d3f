"""Provider payloads → event payloads, with a clear reason when a required field is missing.

Only shape is checked here; meaning (is this sender a user? is this Stripe type handled?) is for
the consumers. Field names in errors are the provider's, so an operator can find them in the
provider's logs. Whatever is accepted here fits the event contract and the envelope ingress
wraps it in, so a hostile but correctly signed request gets a 400, never a 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from pydantic import ValidationError

from shared.events import Payload
from shared.events.catalog import (
    MediaItem,
    SmsInboundReceived,
    SmsStatusUpdated,
    StripeEventReceived,
)

_MAX_MEDIA = 10
_STRIPE_TYPE = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)*")
# Provider ids become dedupe keys: the `ingress_events` _id and the AMQP message id of the
# published event, an AMQP short string of at most 255 bytes. So ids are printable ASCII, short
# enough for the longest key, `twilio-status:<sid>:<status>` (Twilio SIDs have 34 characters,
# statuses at most 19, Stripe event ids about 30). The Stripe type becomes the routing key.
_MAX_ID_CHARS = 180
_MAX_STATUS_CHARS = 32
_MAX_STRIPE_TYPE_CHARS = 200
# Stripe objects nest a few levels; this is far above that and far below what the JSON encoder
# and the event serialiser can take.
_MAX_JSON_DEPTH = 64
_MAX_ERROR_CODE = 999_999_999

_P = TypeVar("_P", bound=Payload)
_SMS_FIELDS = {
    "message_sid": "MessageSid",
    "account_sid": "AccountSid",
    "from_number": "From",
    "to_number": "To",
    "body": "Body",
    "num_media": "NumMedia",
    "media": "MediaUrl",
    "opt_out_type": "OptOutType",
}
_STATUS_FIELDS = {
    "message_sid": "MessageSid",
    "status": "MessageStatus",
    "error_code": "ErrorCode",
    "outbound_key": "key",
    "to_number": "To",
}


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


def _required(form: Mapping[str, str], *names: str, identifier_chars: int | None = None) -> str:
    """The first of `names` with a value; with `identifier_chars` the value goes into a dedupe
    key, so it must be printable ASCII of at most that many characters."""
    for name in names:
        value = form.get(name, "").strip()
        if not value:
            continue
        if identifier_chars is not None and not _is_identifier(value, identifier_chars):
            raise InvalidWebhook(
                name, f"not {identifier_chars} or fewer printable ASCII characters"
            )
        return value
    raise InvalidWebhook(names[0], "missing")


def _is_identifier(value: str, max_chars: int) -> bool:
    return len(value) <= max_chars and value.isascii() and value.isprintable()


def _whole_number(form: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    """The field as an int in [low, high], None when absent or blank.

    ASCII digits only, and no more of them than `high` has: `"²".isdigit()` is true but
    `int("²")` fails, and `int()` refuses more than 4300 digits.
    """
    raw = form.get(name, "").strip()
    if not raw:
        return None
    significant = raw.lstrip("0") or "0"
    if not (raw.isascii() and raw.isdigit() and len(significant) <= len(str(high))):
        raise InvalidWebhook(name, f"must be a whole number from {low} to {high}")
    value = int(significant)
    if not low <= value <= high:
        raise InvalidWebhook(name, f"must be a whole number from {low} to {high}")
    return value


def _payload(model: type[_P], provider_names: Mapping[str, str], **fields: Any) -> _P:
    """`model(**fields)`, or InvalidWebhook naming the provider's field that breaks the event
    contract (a Body over the length limit, a 70-character From)."""
    try:
        return model(**fields)
    except ValidationError as error:
        problem = error.errors(include_input=False, include_url=False)[0]
        name = str(problem["loc"][0]) if problem["loc"] else "body"
        raise InvalidWebhook(provider_names.get(name, name), problem["msg"]) from None


def inbound_sms(form: Mapping[str, str], received_at: datetime) -> SmsInboundReceived:
    num_media = _whole_number(form, "NumMedia", 0, _MAX_MEDIA) or 0
    media = []
    for index in range(num_media):
        url = form.get(f"MediaUrl{index}", "").strip()
        if not url:
            raise InvalidWebhook(f"MediaUrl{index}", "missing while NumMedia says it exists")
        media.append(MediaItem(url=url, content_type=form.get(f"MediaContentType{index}") or None))
    return _payload(
        SmsInboundReceived,
        _SMS_FIELDS,
        message_sid=_required(
            form, "MessageSid", "SmsMessageSid", "SmsSid", identifier_chars=_MAX_ID_CHARS
        ),
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
    return _payload(
        SmsStatusUpdated,
        _STATUS_FIELDS,
        message_sid=_required(form, "MessageSid", "SmsSid", identifier_chars=_MAX_ID_CHARS),
        status=_required(
            form, "MessageStatus", "SmsStatus", identifier_chars=_MAX_STATUS_CHARS
        ).lower(),
        error_code=_whole_number(form, "ErrorCode", 0, _MAX_ERROR_CODE),
        outbound_key=outbound_key or None,
        to_number=form.get("To") or None,
        received_at=received_at,
    )


def stripe_event(body: bytes, received_at: datetime) -> StripeEventReceived:
    try:
        document: Any = json.loads(body)
    except (UnicodeDecodeError, ValueError):  # ValueError: JSONDecodeError, 4300+ digit numbers
        raise InvalidWebhook("body", "not JSON") from None
    except RecursionError:
        raise InvalidWebhook("body", f"nested deeper than {_MAX_JSON_DEPTH} levels") from None
    _check_json_tree(document)
    if not isinstance(document, dict):
        raise InvalidWebhook("body", "not a JSON object")
    event_id = document.get("id")
    if not isinstance(event_id, str) or not event_id or not _is_identifier(event_id, _MAX_ID_CHARS):
        raise InvalidWebhook(
            "id", f"missing or not {_MAX_ID_CHARS} or fewer printable ASCII characters"
        )
    event_type = document.get("type")
    if (
        not isinstance(event_type, str)
        or len(event_type) > _MAX_STRIPE_TYPE_CHARS
        or not _STRIPE_TYPE.fullmatch(event_type)
    ):
        raise InvalidWebhook("type", "missing or not a Stripe event type")
    created = _unix_time(document.get("created"))
    if created is None:
        raise InvalidWebhook("created", "missing or not a Unix timestamp")
    data = document.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise InvalidWebhook("data.object", "missing")
    previous = data.get("previous_attributes")
    api_version = document.get("api_version")
    return StripeEventReceived(
        stripe_event_id=event_id,
        stripe_type=event_type,
        created=created,
        livemode=bool(document.get("livemode", False)),
        api_version=api_version if isinstance(api_version, str) else None,
        data_object=data["object"],
        previous_attributes=previous if isinstance(previous, dict) else None,
        received_at=received_at,
    )


def _unix_time(value: Any) -> datetime | None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, ValueError, OSError):  # beyond year 9999 or the platform's time_t
        return None


def _check_json_tree(document: Any) -> None:
    """Refuse what JSON allows but the event cannot carry: nesting deeper than the serialiser
    goes, and strings with unpaired surrogates (`"\\ud800"`), which are not Unicode text."""
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > _MAX_JSON_DEPTH:
            raise InvalidWebhook("body", f"nested deeper than {_MAX_JSON_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key)
                pending.append((item, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _check_text(value)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidWebhook("body", "contains a string that is not valid Unicode") from None
