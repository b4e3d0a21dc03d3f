"""Compliance keywords match the whole message only; free-text revocations opt out too."""

from __future__ import annotations

import pytest

from services.sms_worker.domain.keywords import Command, classify
from services.sms_worker.safety.revocation import Revocation
from services.sms_worker.safety.screen import default_screen


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        " Stop ",
        "STOP.",
        "stop!",
        "STOPALL",
        "UNSUBSCRIBE",
        "cancel",
        "END",
        "quit",
        "REVOKE",
        "optout",
    ],
)
def test_opt_out_keywords(text: str) -> None:
    assert classify(text, opted_out=False, in_assessment=False) == Command.OPT_OUT


@pytest.mark.parametrize(
    "text",
    [
        "stop texting me",
        "Please stop messaging me",
        "STOP SENDING ME THESE",
        "don't text me anymore",
        "Do not contact me",
        "no more texts please",
        "unsubscribe me",
        "opt me out",
        "I want to opt out",
        "i want to unsubscribe",
        "take me off your list",
        "remove me from this list",
        "Remove my number",
        "Stop texting me\u2019",
    ],
)
def test_free_text_revocations_opt_out(text: str) -> None:
    """Not keywords: the safety screen reads them as clear revocations."""
    assert classify(text, opted_out=False, in_assessment=False) is None
    assert default_screen().read(text).revocation is Revocation.CLEAR


@pytest.mark.parametrize(
    "text",
    [
        "Can you help me cancel my appointment?",
        "I need help",
        "help me please",
        "I can't stop worrying",
        "I can't stop texting my sister about mom",
        "cancel my subscription",
        "The end is near for dad's treatment",
        "stopped by the pharmacy",
        "startled by the alarm",
        "yes",
        "YES",
        "start",
        "info about respite?",
        "Please stop. I need a minute.",
        "",
    ],
)
def test_false_positives_are_not_commands(text: str) -> None:
    assert classify(text, opted_out=False, in_assessment=False) is None


def test_cancel_inside_an_assessment_is_not_an_opt_out() -> None:
    assert classify("cancel", opted_out=False, in_assessment=True) is None
    assert classify("STOP", opted_out=False, in_assessment=True) == Command.OPT_OUT
    assert classify("stop texting me", opted_out=False, in_assessment=True) is None


@pytest.mark.parametrize("text", ["START", "start", "UNSTOP", "yes", "YES!"])
def test_opt_in_only_while_opted_out(text: str) -> None:
    assert classify(text, opted_out=True, in_assessment=False) == Command.OPT_IN
    assert classify(text, opted_out=False, in_assessment=False) is None


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("HELP", Command.HELP),
        ("info", Command.HELP),
        ("Help?", Command.HELP),
        ("DAILY", Command.CHECKIN_DAILY),
        ("weekly", Command.CHECKIN_WEEKLY),
        ("Pause", Command.PAUSE),
        ("RESUME", Command.RESUME),
    ],
)
def test_help_and_checkin_keywords(text: str, command: Command) -> None:
    assert classify(text, opted_out=False, in_assessment=False) == command


def test_help_is_recognised_while_opted_out() -> None:
    assert classify("HELP", opted_out=True, in_assessment=False) == Command.HELP


@pytest.mark.parametrize(
    ("text", "revokes"),
    [
        ("quit sending me texts", True),
        ("never text me again", True),
        ("stop", False),
        ("I won't stop texting you", False),
        ("can't stop messaging my brother", False),
    ],
)
def test_free_text_table(text: str, revokes: bool) -> None:
    assert (default_screen().read(text).revocation is Revocation.CLEAR) is revokes
