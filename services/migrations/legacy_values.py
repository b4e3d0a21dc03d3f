"""Reading values out of legacy documents, which were written by several app versions.

The legacy store kept timestamps as epoch milliseconds (sometimes seconds, sometimes ISO
strings), numbers sometimes as strings, and scores sometimes as NaN. Each reader returns the
typed value or None; none of them raises, so one odd field never aborts a document, let alone a
run. A migration decides what None means (a default, or a rejected document).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# Epoch values above this are milliseconds (year 2286 in seconds), below it seconds.
_MILLIS_THRESHOLD = 10_000_000_000
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def text(value: Any) -> str | None:
    """A stripped, non-empty string, or None (numbers are not names)."""
    if not isinstance(value, str):
        return None
    stripped = value.strip()
    return stripped or None


def number(value: Any) -> float | None:
    """A finite float from a number or a numeric string; NaN, infinities, booleans → None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def integer(value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
    """An integer (from an int, an integral float or a numeric string), clamped to the bounds."""
    as_float = number(value)
    if as_float is None or not as_float.is_integer():
        return None
    result = int(as_float)
    if minimum is not None:
        result = max(minimum, result)
    if maximum is not None:
        result = min(maximum, result)
    return result


def flag(value: Any) -> bool | None:
    """A boolean from a bool, 0/1 or "true"/"false"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    return None


def timestamp(value: Any) -> datetime | None:
    """An aware UTC datetime from epoch ms/s (number or string), ISO 8601, or a datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str) and not _looks_numeric(value):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    epoch = number(value)
    if epoch is None or epoch <= 0:
        return None
    seconds = epoch / 1000 if epoch >= _MILLIS_THRESHOLD else epoch
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _looks_numeric(value: str) -> bool:
    return number(value) is not None


def snake_key(value: Any) -> str | None:
    """`"Physical Health"`, `"physicalHealth"` and `"physical-health"` → `"physical_health"`."""
    raw = text(value)
    if raw is None:
        return None
    spaced = _CAMEL_BOUNDARY.sub("_", raw)
    return re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_") or None


def json_value(value: Any) -> tuple[Any, bool]:
    """Native JSON for a value the legacy app may have stored stringified: (value, parsed_ok).

    A string that is not JSON is kept as the string; `parsed_ok` tells the caller it was not.
    """
    if isinstance(value, str):
        try:
            return json.loads(value), True
        except ValueError:
            return value, False
    return value, True


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
