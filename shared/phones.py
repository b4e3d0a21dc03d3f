"""Sender numbers as Twilio posts them, turned into the one E.164 form users are keyed by.

Parsing is `phonenumbers`' (US as the default region, so 10/11-digit US numbers get +1); a
number that cannot even possibly be a phone number is refused rather than guessed at, and so is
one the events cannot carry (`phonenumbers` calls `+82000` possible; E.164 needs 7+ digits).
"""

from __future__ import annotations

import re

import phonenumbers

from shared.events.catalog import E164_PATTERN

DEFAULT_REGION = "US"
_E164 = re.compile(E164_PATTERN, re.ASCII)


class InvalidPhoneNumber(ValueError):
    """The sender is not a phone number we can text back (short code, alphanumeric, garbage)."""


def normalise_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """`raw` in E.164 (`+14155552671`), or `InvalidPhoneNumber`."""
    text = raw.strip()
    if not text or len(text) > 32:
        raise InvalidPhoneNumber("sender is empty or too long")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumber("sender does not parse as a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhoneNumber("sender has an impossible length for its country")
    key = _format(number)
    if not _E164.match(key):
        raise InvalidPhoneNumber("sender has too few or too many digits for E.164")
    if _format(phonenumbers.parse(key)) != key:
        # All-zero national numbers lose a zero on every reading; a key must be a fixed point.
        raise InvalidPhoneNumber("sender has no stable E.164 form")
    return key


def _format(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
