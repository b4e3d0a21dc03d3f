"""Who writes the conversational reply when no rule owns the message.

`RulesResponder` (the default) answers with short supportive texts built from the caregiver's
first name and top pressure zone; it never gives medical advice and cannot fail, which makes it
the fallback of the LLM responder too. Every reply is fitted to the length rules here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from services.sms_worker.domain.instruments import Zone
from services.sms_worker.safety.lexicon import Severity

ReplySource = Literal["rules", "llm"]


@dataclass(frozen=True)
class HistoryEntry:
    direction: Literal["inbound", "outbound"]
    body: str
    # The `recent_messages` entry's id: how far the historical summary has read.
    entry_id: str | None = None


@dataclass(frozen=True)
class ResponderContext:
    """What a responder may use: the message, who wrote it, and the recent conversation."""

    message: str
    # Varies the wording deterministically (the inbound event id).
    seed: str
    first_name: str | None = None
    relationship: str | None = None
    care_recipient_name: str | None = None
    burnout_band: str | None = None
    pressure_zones: tuple[Zone, ...] = ()
    crisis_severity: Severity | None = None
    history: tuple[HistoryEntry, ...] = ()
    # What the conversation said before `history` (`conversation_state.historical_summary`).
    summary: str | None = None


@dataclass(frozen=True)
class ToolCallRecord:
    call_id: str
    name: str
    arguments: dict[str, Any]
    result: str


@dataclass(frozen=True)
class ResponderReply:
    text: str
    source: ReplySource
    tool_calls: tuple[ToolCallRecord, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Summary:
    """A historical summary written by a responder, and what writing it cost."""

    text: str
    tokens: int | None = None


class Responder(Protocol):
    # Whether `reply` reads `context.history` and `context.summary` (the handler loads them
    # only when asked, and keeps a summary only for such a responder).
    uses_history: bool

    async def reply(self, context: ResponderContext) -> ResponderReply: ...

    async def summarise(
        self, previous: str | None, entries: Sequence[HistoryEntry]
    ) -> Summary | None:
        """`previous` with `entries` folded in; None when it cannot be written now."""
        ...


_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def fit_sms(text: str, limit: int) -> str:
    """`text` on one line within `limit` characters, cut after a sentence (or word) if needed."""
    flat = re.sub(r"\s+", " ", text).strip()
    if len(flat) <= limit:
        return flat
    window = flat[:limit]
    sentence_ends = [m.end() for m in _SENTENCE_END.finditer(window)]
    if sentence_ends and sentence_ends[-1] >= limit // 2:
        return window[: sentence_ends[-1]]
    cut = window[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:-")
    return f"{cut}…"


_ZONE_REPLIES: dict[Zone, tuple[str, ...]] = {
    Zone.PHYSICAL_HEALTH: (
        "{hello}caring wears on your body too. Could you give yourself 10 minutes of rest today?",
        "{hello}your own health matters as much as theirs. What would help you feel rested?",
    ),
    Zone.EMOTIONAL_WELLBEING: (
        "{hello}what you feel makes sense. Caring is heavy. What's weighing on you most today?",
        "{hello}thank you for telling me. Be as kind to yourself as you are to them.",
    ),
    Zone.FINANCIAL_CONCERNS: (
        "{hello}money worries add up fast. Want to talk through what's pressing most right now?",
        "{hello}you're not alone with the costs of care. What's the biggest worry this week?",
    ),
    Zone.TIME_MANAGEMENT: (
        "{hello}there's a lot on your plate. What's one task someone else could take on?",
        "{hello}you can't do it all, and you don't have to. What could wait until tomorrow?",
    ),
    Zone.SOCIAL_SUPPORT: (
        "{hello}caring can feel lonely. Is there one person you could reach out to this week?",
        "{hello}you deserve support too. Who in your life could you lean on a little?",
    ),
}
_GENERAL_REPLIES = (
    "{hello}I'm here for you. What's on your mind today?",
    "{hello}thanks for checking in. How are you holding up?",
    "{hello}caring for someone is a lot. What would make today a little easier?",
    "{hello}I'm listening. Tell me more about how things are going.",
)
_GENTLE_REPLIES = (
    "{hello}that sounds so hard. You're not alone. If it ever feels like too much, call or "
    "text 988 any time.",
    "{hello}I hear how heavy this is. Please be gentle with yourself. 988 is there 24/7 if you "
    "need to talk.",
)


def _pick(options: Sequence[str], seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return options[digest[0] % len(options)]


class RulesResponder:
    """Deterministic, short, supportive replies; never fails."""

    uses_history = False

    def __init__(self, max_chars: int = 160) -> None:
        self._max_chars = max_chars

    def compose(self, context: ResponderContext) -> ResponderReply:
        options: Sequence[str]
        if context.crisis_severity is not None:
            options = _GENTLE_REPLIES
        elif context.pressure_zones:
            options = _ZONE_REPLIES[context.pressure_zones[0]]
        else:
            options = _GENERAL_REPLIES
        hello = f"{context.first_name}, " if context.first_name else ""
        text = _pick(options, context.seed).format(hello=hello)
        text = text[0].upper() + text[1:]
        return ResponderReply(fit_sms(text, self._max_chars), "rules")

    async def summarise(
        self, previous: str | None, entries: Sequence[HistoryEntry]
    ) -> Summary | None:
        """Nothing: this responder reads no history, so it keeps no summary of it."""
        return None

    async def reply(self, context: ResponderContext) -> ResponderReply:
        return self.compose(context)
