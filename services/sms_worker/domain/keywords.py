"""What a message *commands*, before anything reads it as conversation.

Compliance keywords (carrier rules) match the whole trimmed message, case-insensitively, never a
substring: "Can you help me cancel my appointment?" is neither HELP nor CANCEL. Revocations in
free text are the safety screen's to read (`safety/revocation.py`). Check-in keywords set how
often we reach out.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Command(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    CHECKIN_DAILY = "checkin_daily"
    CHECKIN_WEEKLY = "checkin_weekly"
    PAUSE = "pause"
    RESUME = "resume"


OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})
# YES opts back in only while opted out; otherwise it is an ordinary answer.
OPT_IN_WHILE_OPTED_OUT = frozenset({"YES"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
# Inside an assessment these words steer the session (cancel it), not the subscription.
ASSESSMENT_CONTROL_WORDS = frozenset({"CANCEL"})
CHECKIN_KEYWORDS = {
    "DAILY": Command.CHECKIN_DAILY,
    "WEEKLY": Command.CHECKIN_WEEKLY,
    "PAUSE": Command.PAUSE,
    "RESUME": Command.RESUME,
}


def _whole_word(text: str) -> str:
    """The message as one keyword candidate: trimmed, upper-case, trailing punctuation dropped."""
    return re.sub(r"[\s.!?]+$", "", text.strip()).upper()


def classify(text: str, *, opted_out: bool, in_assessment: bool) -> Command | None:
    """The keyword command in `text`, or None.

    `opted_out` makes YES an opt-in and START/UNSTOP meaningful; `in_assessment` makes CANCEL
    an assessment control word instead of an opt-out.
    """
    word = _whole_word(text)
    if word in OPT_OUT_KEYWORDS and not (in_assessment and word in ASSESSMENT_CONTROL_WORDS):
        return Command.OPT_OUT
    if opted_out and (word in OPT_IN_KEYWORDS or word in OPT_IN_WHILE_OPTED_OUT):
        return Command.OPT_IN
    if word in HELP_KEYWORDS:
        return Command.HELP
    if word in CHECKIN_KEYWORDS:
        return CHECKIN_KEYWORDS[word]
    return None


def is_reserved_word(text: str) -> bool:
    """Whether `text` is a keyword, so onboarding never takes it for a name."""
    word = _whole_word(text)
    return (
        word in OPT_OUT_KEYWORDS
        or word in OPT_IN_KEYWORDS
        or word in OPT_IN_WHILE_OPTED_OUT
        or word in HELP_KEYWORDS
        or word in CHECKIN_KEYWORDS
    )
