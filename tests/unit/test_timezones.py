"""ZIP → timezone: real zones for real ZIPs across the US, the default for anything else."""

from __future__ import annotations

import pytest

from shared.timezones import timezone_for_zip

DEFAULT = "America/New_York"


@pytest.mark.parametrize(
    ("zip_code", "zone"),
    [
        ("10001", "America/New_York"),
        ("60601", "America/Chicago"),
        ("80202", "America/Denver"),
        ("85001", "America/Phoenix"),
        ("94103", "America/Los_Angeles"),
        ("99501", "America/Anchorage"),
        ("96813", "Pacific/Honolulu"),
        (" 94103-1234 ", "America/Los_Angeles"),
    ],
)
def test_known_zips(zip_code: str, zone: str) -> None:
    assert timezone_for_zip(zip_code, DEFAULT) == zone


@pytest.mark.parametrize("zip_code", ["", "1234", "123456", "abcde", "00000", "99999"])
def test_unknown_or_malformed_zips_get_the_default(zip_code: str) -> None:
    assert timezone_for_zip(zip_code, DEFAULT) == DEFAULT
