"""The assessment instruments, as data: items, answer scale, reverse scoring, zones, cooldown.

A new instrument (CWBS, REACH-II, an SDOH yes/no screen) is a new entry here; the engine in
`assessments.py` needs no change. Item texts are short enough that the question, its number and
the answer hint fit one SMS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType


class Zone(StrEnum):
    """Pressure zones, in the order ties are listed."""

    PHYSICAL_HEALTH = "physical_health"
    EMOTIONAL_WELLBEING = "emotional_wellbeing"
    FINANCIAL_CONCERNS = "financial_concerns"
    TIME_MANAGEMENT = "time_management"
    SOCIAL_SUPPORT = "social_support"


@dataclass(frozen=True)
class Item:
    text: str
    zone: Zone
    # True when a higher answer means *worse* (more burden): flipped so higher = healthier.
    reverse: bool = False


@dataclass(frozen=True)
class SeverityBand:
    """A band on the instrument's own raw total (e.g. BSFC-s mild/moderate/severe)."""

    name: str
    max_total: int


@dataclass(frozen=True)
class Instrument:
    id: str
    name: str
    items: tuple[Item, ...]
    scale_min: int
    scale_max: int
    # Shown after each question: how to answer.
    answer_hint: str
    cooldown: timedelta
    # Whole-message keywords that start this instrument.
    start_keywords: frozenset[str]
    minutes: int
    # Words accepted as answers besides the numbers (a yes/no screen: {"yes": 1, "no": 0}).
    answer_words: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    severity_bands: tuple[SeverityBand, ...] = ()

    @property
    def size(self) -> int:
        return len(self.items)


EMA = Instrument(
    id="ema",
    name="daily check-in",
    items=(
        Item("How good is your mood right now?", Zone.EMOTIONAL_WELLBEING),
        Item("How overwhelmed by care tasks do you feel today?", Zone.TIME_MANAGEMENT, True),
        Item("How supported do you feel today?", Zone.SOCIAL_SUPPORT),
    ),
    scale_min=1,
    scale_max=5,
    answer_hint="Reply 1 (not at all) to 5 (very), or SKIP.",
    cooldown=timedelta(days=1),
    start_keywords=frozenset({"CHECKIN", "CHECK IN", "CHECK-IN"}),
    minutes=1,
)

# Burden Scale for Family Caregivers, short form (Graessel et al.): agreement with 10 burden
# statements, 0 = strongly disagree … 3 = strongly agree; every item is burden, so reversed.
BSFC_S = Instrument(
    id="bsfc_s",
    name="caregiver burden check-in",
    items=(
        Item("Caring has lowered my life satisfaction.", Zone.EMOTIONAL_WELLBEING, True),
        Item("I often feel physically exhausted.", Zone.PHYSICAL_HEALTH, True),
        Item("At times I wish I could run away from it all.", Zone.EMOTIONAL_WELLBEING, True),
        Item("Sometimes I don't feel like myself anymore.", Zone.EMOTIONAL_WELLBEING, True),
        Item("My finances have suffered since I began caring.", Zone.FINANCIAL_CONCERNS, True),
        Item("My health is affected by the care situation.", Zone.PHYSICAL_HEALTH, True),
        Item("Caring takes a lot of my own strength.", Zone.TIME_MANAGEMENT, True),
        Item("I feel torn between caring and my other duties.", Zone.TIME_MANAGEMENT, True),
        Item("I worry about my future because of caring.", Zone.FINANCIAL_CONCERNS, True),
        Item("Caring strains my ties with family and friends.", Zone.SOCIAL_SUPPORT, True),
    ),
    scale_min=0,
    scale_max=3,
    answer_hint="Reply 0 (strongly disagree) to 3 (strongly agree), or SKIP.",
    cooldown=timedelta(days=7),
    start_keywords=frozenset({"ASSESS", "ASSESSMENT"}),
    minutes=2,
    severity_bands=(
        SeverityBand("mild", 14),
        SeverityBand("moderate", 19),
        SeverityBand("severe", 30),
    ),
)

INSTRUMENTS: Mapping[str, Instrument] = MappingProxyType({i.id: i for i in (EMA, BSFC_S)})
# Offered once onboarding is complete.
BASELINE = BSFC_S
