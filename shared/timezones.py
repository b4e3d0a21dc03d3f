"""US ZIP code → IANA timezone, offline (the `zipcodes` package ships its data).

Shared because the SMS worker stores a profile's timezone at onboarding and the scheduler needs
it for sending windows; both must derive it the same way.
"""

from __future__ import annotations

import re
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import zipcodes

# ASCII digits only: the ZIP database panics (a BaseException) on Arabic-Indic and other digits.
_ZIP = re.compile(r"^\s*(\d{5})(?:-\d{4})?\s*$", re.ASCII)


@lru_cache(maxsize=4_096)
def timezone_for_zip(zip_code: str, default: str) -> str:
    """The IANA zone of a US ZIP (ZIP+4 accepted), or `default` when unknown or malformed."""
    match = _ZIP.match(zip_code)
    if match is None:
        return default
    try:
        entries = zipcodes.matching(match.group(1))  # type: ignore[no-untyped-call]
    except (TypeError, ValueError):
        return default
    zone = entries[0].get("timezone") if entries else None
    if not isinstance(zone, str) or not zone:
        return default
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return default
    return zone
