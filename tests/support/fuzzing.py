"""What the property-based tests share: how many examples a run tries, and the hostile input
they draw from.

The parser tests (`tests/unit/fuzz`) and the signed-request fuzzing of a running ingress
(`tests/integration/ingress/test_fuzzing.py`) use the same Twilio forms and Stripe bodies, so a
shape that breaks a parser is also sent through the real HTTP path.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from shared.events import Envelope
from shared.events.catalog import EVENTS

FUZZ_EXAMPLES_VARIABLE = "FUZZ_EXAMPLES"
AMQP_SHORT_STRING_BYTES = 255
T = TypeVar("T")
E = TypeVar("E", bound=Exception)


def fuzz_settings(max_examples: int) -> settings:
    """`max_examples` sized so the whole fuzz tier stays well under a minute on two cores;
    `FUZZ_EXAMPLES=<n>` gives every property `n` examples instead, for a long run.

    No deadline: on a shared, busy machine slowness is not a failure.
    """
    raw = os.environ.get(FUZZ_EXAMPLES_VARIABLE, "").strip()
    if raw and not (raw.isascii() and raw.isdigit() and int(raw) > 0):
        raise ValueError(f"{FUZZ_EXAMPLES_VARIABLE} must be a positive whole number")
    return settings(
        max_examples=int(raw) if raw else max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def result_or(documented: type[E], call: Callable[[], T]) -> T | E:
    """What `call` returns, or the documented error it raised; any other exception escapes and
    fails the property."""
    try:
        return call()
    except documented as error:
        return error


def assert_publishable(event: Envelope[Any], dedupe_key: str) -> None:
    """What ingress does with a webhook it accepted works all the way: the dedupe key (the AMQP
    message id) and the type (AMQP type and routing key) are AMQP short strings, and the bytes
    decode back to the same event at the consumer."""
    assert len(dedupe_key.encode()) <= AMQP_SHORT_STRING_BYTES
    assert len(event.type.encode()) <= AMQP_SHORT_STRING_BYTES
    assert EVENTS.decode(event.to_json()) == event


def mostly(
    plausible: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """`plausible` about four times in five, else `hostile`: most inputs get past the first
    check, so the checks behind it are exercised too."""
    return st.one_of(plausible, plausible, plausible, plausible, hostile)


# -- text ----------------------------------------------------------------------------------------

# Characters that have broken parsers before: non-ASCII digits `isdigit()` accepts and `int()`
# may not, look-alike letters whose upper case is a keyword, ligatures, zero-width and
# right-to-left marks, NUL, line breaks, curly quotes, full-width forms.
_TRICKY = "²³¹٣٤١٢٠۵७０１９ＳＴＯＰﬆſıİßǅ\u200b\u200e\u202e\ufeff\x00\r\n\t\u2019\u201c—…😀"

hostile_text = st.text(st.characters(codec="utf-8") | st.sampled_from(_TRICKY), max_size=60)
"""Any text, with a bias towards characters that have broken text parsers."""


def words_and_noise(*vocabulary: str) -> st.SearchStrategy[str]:
    """Messages built from `vocabulary` (keywords, crisis phrases, names) mixed with noise, so
    the interesting words appear far more often than in uniformly random text."""
    piece = st.sampled_from(vocabulary) | hostile_text | st.sampled_from(" .,!?'-")
    return st.lists(piece, max_size=8).map("".join) | st.lists(piece, max_size=6).map(" ".join)


# -- Twilio forms ----------------------------------------------------------------------------------

_HOSTILE_FORM_VALUE = (
    hostile_text
    | st.text(st.sampled_from("0123456789²٣"), min_size=1, max_size=40)
    # Past the event contract's limits, and past int()'s 4300 digits.
    | st.integers(60, 700).map(lambda n: "S" * n)
    | st.integers(4_300, 5_000).map(lambda n: "9" * n)
)
_HEX = st.text(st.sampled_from("0123456789abcdef"), min_size=32, max_size=32)
_TWILIO_SIDS = st.builds("{}{}".format, st.sampled_from(["SM", "MM"]), _HEX)
_PHONES = st.integers(2_000_000_000, 9_999_999_999).map("+1{}".format) | st.text(
    st.sampled_from("0123456789 ()+.-"), min_size=3, max_size=20
)


def _form_value(plausible: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return mostly(plausible, _HOSTILE_FORM_VALUE)


def twilio_sms_forms() -> st.SearchStrategy[dict[str, str]]:
    """Inbound-SMS webhook forms: mostly Twilio's shape with some fields bent or missing, and
    now and then a form with any keys at all."""
    media_count = st.integers(0, 11).map(str)
    shaped = st.fixed_dictionaries(
        {
            "MessageSid": _form_value(_TWILIO_SIDS),
            "From": _form_value(_PHONES),
            "To": _form_value(_PHONES),
            "Body": _form_value(st.text(max_size=300)),
            "NumMedia": _form_value(media_count),
        },
        optional={
            "AccountSid": _form_value(_HEX.map("AC{}".format)),
            "SmsMessageSid": _form_value(_TWILIO_SIDS),
            "MediaUrl0": _form_value(st.just("https://api.twilio.com/media/ME1")),
            "MediaContentType0": _form_value(st.sampled_from(["image/jpeg", "text/vcard"])),
            "MediaUrl1": _form_value(st.just("https://api.twilio.com/media/ME2")),
            "OptOutType": _form_value(st.sampled_from(["STOP", "START", "HELP"])),
        },
    )
    return mostly(shaped, st.dictionaries(hostile_text, _HOSTILE_FORM_VALUE, max_size=6))


def twilio_status_forms() -> st.SearchStrategy[dict[str, str]]:
    """Delivery-status callback forms, bent the same way."""
    statuses = st.sampled_from(["queued", "sent", "delivered", "undelivered", "failed", "Read"])
    shaped = st.fixed_dictionaries(
        {
            "MessageSid": _form_value(_TWILIO_SIDS),
            "MessageStatus": _form_value(statuses),
        },
        optional={
            "ErrorCode": _form_value(st.sampled_from(["", "30003", "21610", "0"])),
            "To": _form_value(_PHONES),
            "SmsSid": _form_value(_TWILIO_SIDS),
        },
    )
    return mostly(shaped, st.dictionaries(hostile_text, _HOSTILE_FORM_VALUE, max_size=6))


# -- Stripe bodies ---------------------------------------------------------------------------------

_JSON_TEXT = (
    st.text(max_size=30)
    # Unpaired surrogates: valid JSON escapes (`"\ud800"`), but not Unicode text.
    | st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3)
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-(2**80), 2**80)
    | st.floats()
    | _JSON_TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(_JSON_TEXT, children, max_size=4)
    ),
    max_leaves=12,
)
"""Any JSON value, including NaN, infinities, huge integers and unpaired surrogates."""

_STRIPE_TYPES = st.sampled_from(
    [
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.paid",
        "invoice.payment_failed",
        "charge.refunded",
    ]
) | st.lists(
    st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz_0123456789"), min_size=1, max_size=12),
    min_size=1,
    max_size=4,
).map(".".join)
_HOSTILE_TYPES = st.sampled_from(["invoice.paid\n", "Invoice.Paid", "a..b", ".", "a" * 300])
_CREATED = st.integers(0, 2**31) | st.sampled_from([10**12, 10**20, 253_402_300_800])


def stripe_event_documents() -> st.SearchStrategy[Any]:
    """Stripe event objects: mostly Stripe's shape with some fields bent, and any JSON at all."""
    objects = st.dictionaries(st.text(max_size=12), json_values, max_size=5)
    shaped = st.fixed_dictionaries(
        {
            "id": mostly(
                _HEX.map("evt_{}".format),
                # Past the dedupe key's room in the envelope (512 characters).
                json_values | st.integers(250, 600).map(lambda n: "evt_" + "x" * n),
            ),
            "type": mostly(_STRIPE_TYPES, _HOSTILE_TYPES | json_values),
            "created": mostly(_CREATED, json_values),
            "data": mostly(
                st.fixed_dictionaries(
                    {"object": mostly(objects, json_values)},
                    optional={"previous_attributes": json_values},
                ),
                json_values,
            ),
        },
        optional={
            "object": st.just("event"),
            "livemode": json_values,
            "api_version": st.just("2025-03-31.basil") | json_values,
        },
    )
    return mostly(shaped, json_values)


def _deeply_nested(depth: int) -> bytes:
    return b'{"id": "evt_1", "data": {"object": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}}"


def stripe_bodies() -> st.SearchStrategy[bytes]:
    """Raw Stripe webhook bodies: JSON documents as above, nesting deeper than any parser likes,
    numbers past int()'s digit limit, and bytes that are not JSON at all."""
    return mostly(
        stripe_event_documents().map(lambda document: json.dumps(document).encode()),
        st.integers(60, 2_000).map(_deeply_nested)
        | st.integers(4_300, 4_500).map(lambda n: b'{"created": ' + b"1" * n + b"}")
        | st.binary(max_size=80),
    )
