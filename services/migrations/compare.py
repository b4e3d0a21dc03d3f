"""Verify's notion of "the stored document says what the backfill wrote"."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any


def normalised(value: Any) -> Any:
    """Stored datetimes come back UTC with millisecond precision; tuples come back as lists."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        aware = aware.astimezone(UTC)
        return aware.replace(microsecond=aware.microsecond // 1000 * 1000)
    if isinstance(value, Mapping):
        return {k: normalised(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalised(v) for v in value]
    return value


def differing_fields(
    expected: Mapping[str, Any],
    stored: Mapping[str, Any] | None,
    *,
    ignore: Collection[str] = (),
) -> list[str]:
    """Names of `expected`'s fields that `stored` does not hold (["<missing>"] if no document)."""
    if stored is None:
        return ["<missing>"]
    return sorted(
        name
        for name, value in expected.items()
        if name not in ignore and normalised(stored.get(name)) != normalised(value)
    )
