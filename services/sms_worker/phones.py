"""Sender numbers as Twilio posts them, turned into the one E.164 form users are keyed by.

Parsing is `phonenumbers`' (US as the default region, so 10/11-digit US numbers get +1); a
number that cannot even possibly be a phone number is refused rather than guessed at.
"""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "US"


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
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
