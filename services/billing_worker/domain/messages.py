"""The SMS texts billing asks the sender for, and the sign-up link they carry.

Kept short (one SMS segment where possible) and free of anything but the caregiver's own link;
the link carries the phone so the sign-up page finds the right account without asking.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

WELCOME = (
    "Welcome to GiveCare! Your subscription is active. Text us anytime about caring for your "
    "loved one. Reply HELP for help, STOP to opt out."
)


def signup_link(signup_url: str, phone: str) -> str:
    """`signup_url` with `phone=<E.164>` added to (or replacing it in) its query."""
    parts = urlsplit(signup_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "phone"]
    query.append(("phone", phone))
    return urlunsplit(parts._replace(query=urlencode(query)))


def payment_failed_text(link: str) -> str:
    return (
        f"GiveCare: your last payment didn't go through. Update your card to keep support: {link}"
    )
