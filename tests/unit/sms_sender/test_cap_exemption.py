"""Which sends the per-recipient cap never holds back: crisis replies and the answers to STOP,
START and HELP, however the producer marked them; everything else is capped."""

from __future__ import annotations

import pytest

from services.sms_sender.dispatcher import cap_exempt

EXEMPT = [
    # (case, key, kind, compliance) — as the SMS worker requests them
    ("STOP confirmation", "opt-out:evt-1", "compliance", True),
    ("START confirmation", "opt-in:evt-1", "compliance", True),
    ("HELP text (compliance kind, not compliance flag)", "reply:evt-1", "compliance", False),
    ("crisis text", "crisis:evt-1", "crisis", False),
    ("crisis key under another kind", "crisis:evt-1", "assessment", False),
    ("gentle crisis support (medium severity)", "crisis-support:evt-1", "crisis", False),
    ("opt-out key without the flag", "opt-out:evt-1", "reply", False),
    ("compliance flag under another kind", "admin:1", "admin", True),
]  # fmt: skip

CAPPED = [
    ("reply", "reply:evt-1", "reply"),
    ("onboarding", "reply:evt-1", "onboarding"),
    ("proactive", "proactive:u1:checkin:2026-01-15", "proactive"),
    ("rate-limit notice", "rate-limit-notice:u1:2026-01-15", "rate_limit_notice"),
    ("billing", "billing:welcome:1", "billing"),
    ("admin", "admin:1", "admin"),
    ("'crisis' inside a key is not its prefix", "reply:crisis:1", "reply"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("key", "kind", "compliance"), [c[1:] for c in EXEMPT], ids=[c[0] for c in EXEMPT]
)
def test_safety_and_compliance_answers_are_exempt(key: str, kind: str, compliance: bool) -> None:
    assert cap_exempt(key, kind, compliance=compliance)


@pytest.mark.parametrize(("key", "kind"), [c[1:] for c in CAPPED], ids=[c[0] for c in CAPPED])
def test_everything_else_is_capped(key: str, kind: str) -> None:
    assert not cap_exempt(key, kind, compliance=False)
