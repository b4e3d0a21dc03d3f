"""Crisis language, found deterministically before any limit or gate can silence a reply.

Phrase lists by severity, matched on words (never substrings), after known idioms are blanked
out within their sentence: "the laundry is killing me" is chores, "dying to see her" is
eagerness. High severity gets crisis resources at once; a domestic-violence phrase adds the DV
hotline to them. Negations are not excused ("I'm not suicidal, but…") — a false alarm costs a
kind text, a miss costs more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"


@dataclass(frozen=True)
class CrisisFinding:
    severity: Severity
    domestic_violence: bool = False


_PEOPLE = (
    r"(him|her|them|my (mom|mother|dad|father|husband|wife|partner|son|daughter|"
    r"grandma|grandpa|grandmother|grandfather|brother|sister))"
)
_ABUSER = (
    r"(he|she|they|my (husband|wife|partner|boyfriend|girlfriend|son|daughter|ex|"
    r"father|mother|dad|mom|brother|sister|spouse))"
)
_CHORES = (
    r"(laundry|dishes|paperwork|traffic|cooking|cleaning|driving|commute|bills|insurance|"
    r"appointments|my back|my feet|my knees|my neck|my head|the heat|this heat|work|chores|"
    r"errands|the schedule|this schedule|the pharmacy|the phone tree|hold music)"
)


def _compile(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(rf"\b{pattern}\b") for pattern in patterns)


# Spans blanked before matching: idioms that contain crisis words but mean something else.
_IDIOMS = _compile(
    (
        rf"{_CHORES} (is|are|s) (literally )?killing me",
        r"killing it",
        r"kill(ing)? (some )?time",
        r"(could|would) kill for",
        # Not "to die for": blanking it would turn "I want to die for real" into nothing.
        r"dying (to|for)",
        r"die (of|from) (laughter|laughing|embarrassment|boredom)",
        r"(phone|battery|car|laptop) (died|is dead|was dead)",
    )
)

_DOMESTIC_VIOLENCE = _compile(
    (
        rf"{_ABUSER} (hits|hit|beats|beat|chokes|choked|kicks|kicked|slaps|slapped|hurts|"
        r"abuses|abused|strangled|pushed|threatens|threatened) me",
        r"(hitting|beating|choking|abusing|strangling) me",
        rf"(afraid|scared|terrified) of {_ABUSER}",
        r"threatened to (kill|hurt|harm) me",
        r"domestic (violence|abuse)",
        r"abusive (husband|wife|partner|boyfriend|girlfriend|relationship|son|daughter|home)",
        r"(not|dont feel) safe (at home|in my home|in my own home|with him|with her)",
        r"unsafe at home",
    )
)

_HIGH = _compile(
    (
        r"kill(ing)? my ?self",
        r"(end|ending|take|taking) my (own )?life",
        r"end it all",
        r"suicid(e|al)",
        r"(want|going|ready|plan|planning) to die",
        r"wanna die",
        r"wish i (was|were) dead",
        r"(better|rather be) off dead",
        r"rather be dead",
        r"dont want to (live|be alive|be here anymore|wake up)",
        r"no reason to live",
        r"nothing (left )?to live for",
        r"cant go on living",
        r"(hurt|harm|cut|cutting|hurting|harming) my ?self",
        r"self harm",
        r"overdos(e|ing)",
        r"(take|taking|swallow) all (of )?(my|the|her|his) (pills|meds|medication)",
        rf"(kill|hurt|harm|smother|strangle) {_PEOPLE}",
    )
)

_MEDIUM = _compile(
    (
        r"(cant|cannot) cope",
        r"(cant|cannot) (take|handle|do) (it|this)( any ?more)?",
        r"(cant|cannot) go on",
        r"hopeless",
        r"no way out",
        r"giv(e|ing) up on (everything|life)",
        r"at the end of my rope",
        r"falling apart",
        r"breaking down",
        r"(want|wanna) to (disappear|run away)",
        r"(nobody|no one) cares",
        r"(so|all) alone",
        r"(is|are|s) killing me",
    )
)


_SENTENCE_END = re.compile(r"[.!?;\n]+")


def _plain(text: str) -> str:
    lowered = text.lower().replace("\u2019", "").replace("'", "")
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9]+", " ", lowered)).strip()


def detect_crisis(text: str) -> CrisisFinding | None:
    """The crisis in `text`, if any: high (with or without domestic violence) or medium."""
    # Idioms are blanked within a sentence only ("I want to die. Of laughter? No." is no joke);
    # the phrase lists still match across sentences ("I want to... die").
    sentences = []
    for sentence in _SENTENCE_END.split(text):
        plain = _plain(sentence)
        for idiom in _IDIOMS:
            plain = idiom.sub(" ~ ", plain)
        sentences.append(plain)
    plain = " ".join(sentences)
    domestic_violence = any(pattern.search(plain) for pattern in _DOMESTIC_VIOLENCE)
    if domestic_violence or any(pattern.search(plain) for pattern in _HIGH):
        return CrisisFinding(Severity.HIGH, domestic_violence=domestic_violence)
    if any(pattern.search(plain) for pattern in _MEDIUM):
        return CrisisFinding(Severity.MEDIUM)
    return None
