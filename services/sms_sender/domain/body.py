"""Body rules for outbound SMS: how many segments a body costs (GSM-7 or UCS-2) and which bodies
are refused outright. Pure functions; the sender records the result, and never alters a body.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

Encoding = Literal["GSM-7", "UCS-2"]

# GSM 03.38 default alphabet (one septet each) and its extension table (escape + char: two).
_GSM_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED: Final = frozenset("^{}\\[~]|€\f")

# A single SMS carries 160 septets or 70 UTF-16 units; in a concatenated message the user data
# header takes room, leaving 153 and 67 per segment.
_SINGLE: Final = {"GSM-7": 160, "UCS-2": 70}
_PER_PART: Final = {"GSM-7": 153, "UCS-2": 67}

# Twilio refuses longer bodies (error 21617); the domain rules use the same ceiling.
MAX_BODY_CHARS: Final = 1600


@dataclass(frozen=True)
class SegmentCount:
    encoding: Encoding
    # Septets for GSM-7, UTF-16 code units for UCS-2.
    units: int
    segments: int


def is_gsm7(body: str) -> bool:
    return all(char in _GSM_BASIC or char in _GSM_EXTENDED for char in body)


def _unit_sizes(body: str, encoding: Encoding) -> list[int]:
    if encoding == "GSM-7":
        return [2 if char in _GSM_EXTENDED else 1 for char in body]
    return [2 if ord(char) > 0xFFFF else 1 for char in body]


def _pack(sizes: Iterable[int], capacity: int) -> int:
    """Segments needed when no character (escape pair, surrogate pair) may straddle two."""
    segments, used = 1, 0
    for size in sizes:
        if used + size > capacity:
            segments, used = segments + 1, 0
        used += size
    return segments


def count_segments(body: str) -> SegmentCount:
    """What the carrier bills: GSM-7 when every character is in the GSM alphabet, else UCS-2."""
    encoding: Encoding = "GSM-7" if is_gsm7(body) else "UCS-2"
    sizes = _unit_sizes(body, encoding)
    units = sum(sizes)
    if units == 0:
        return SegmentCount(encoding, 0, 0)
    if units <= _SINGLE[encoding]:
        return SegmentCount(encoding, units, 1)
    return SegmentCount(encoding, units, _pack(sizes, _PER_PART[encoding]))


def refusal_reason(body: str, max_chars: int = MAX_BODY_CHARS) -> str | None:
    """Why this body must not be sent, or None. Nothing is trimmed to make a body fit."""
    if not body.strip():
        return "body_empty"
    if len(body) > max_chars:
        return "body_too_long"
    return None
