"""The safety screen every inbound message passes first: crisis language and revocations.

Two layers read each message: the lexicon (`lexicon.py`, revocation wording in
`revocation.py`) and the semantic heads (`semantic.py`). `combine` is the pure rule that joins
their readings; `SafetyScreen` runs both layers on a text.

Crisis: either layer finding crisis language is a finding (a miss costs far more than a kind
false alarm); the severity is the higher of the two, and domestic violence from either adds
the DV hotline. Revocation: an opt-out needs a clear request in words that the semantic head
does not contradict, or a semantic reading so certain that no look-alike in training came near;
anything likely but unclear gets one clarifying question instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.sms_worker.safety.lexicon import Category, LexiconHit, Severity, scan
from services.sms_worker.safety.revocation import Revocation, read_revocation
from services.sms_worker.safety.semantic import (
    SemanticClassifier,
    SemanticReading,
    Thresholds,
    default_classifier,
)


@dataclass(frozen=True)
class CrisisFinding:
    severity: Severity
    domestic_violence: bool = False
    # What the lexicon recognised (empty when only the semantic layer spoke).
    categories: tuple[Category, ...] = ()
    by_lexicon: bool = False
    by_semantic: bool = False


@dataclass(frozen=True)
class SafetyReading:
    crisis: CrisisFinding | None
    revocation: Revocation | None


def combine_crisis(
    hits: tuple[LexiconHit, ...], semantic: SemanticReading, thresholds: Thresholds
) -> CrisisFinding | None:
    semantic_found = semantic.crisis >= thresholds.crisis
    if not hits and not semantic_found:
        return None
    high = any(hit.severity is Severity.HIGH for hit in hits) or (
        semantic_found and semantic.high >= thresholds.high
    )
    domestic_violence = any(hit.domestic_violence for hit in hits) or (
        semantic_found and semantic.domestic_violence >= thresholds.domestic_violence
    )
    return CrisisFinding(
        Severity.HIGH if high or domestic_violence else Severity.MEDIUM,
        domestic_violence,
        tuple(hit.category for hit in hits),
        by_lexicon=bool(hits),
        by_semantic=semantic_found,
    )


def combine_revocation(
    words: Revocation | None, semantic: SemanticReading, thresholds: Thresholds
) -> Revocation | None:
    if words is Revocation.NOT_US:
        return None
    if semantic.revocation >= thresholds.revocation_certain:
        return Revocation.CLEAR
    if words is Revocation.CLEAR:
        if semantic.revocation >= thresholds.revocation_confirm:
            return Revocation.CLEAR
        return Revocation.UNCLEAR
    if words is Revocation.UNCLEAR or semantic.revocation >= thresholds.revocation_clarify:
        return Revocation.UNCLEAR
    # A revocation word in passing and a head that leans towards revoking: ask.
    if words is Revocation.IN_PASSING and semantic.revocation >= 0.5:
        return Revocation.UNCLEAR
    return None


def combine(
    hits: tuple[LexiconHit, ...],
    words: Revocation | None,
    semantic: SemanticReading,
    thresholds: Thresholds,
) -> SafetyReading:
    return SafetyReading(
        combine_crisis(hits, semantic, thresholds),
        combine_revocation(words, semantic, thresholds),
    )


class SafetyScreen:
    """Both layers over one message; the SMS worker holds one for its lifetime."""

    def __init__(self, classifier: SemanticClassifier) -> None:
        self._classifier = classifier

    def read(self, text: str) -> SafetyReading:
        return combine(
            scan(text),
            read_revocation(text),
            self._classifier.read(text),
            self._classifier.heads.thresholds,
        )


def default_screen() -> SafetyScreen:
    return SafetyScreen(default_classifier())
