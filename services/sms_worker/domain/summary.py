"""When the conversation's historical summary is brought up to date, and what it folds in.

`conversation_state.recent_messages` keeps the newest `SMS_RECENT_MESSAGES` entries; older ones
fall off. Before they do, a responder that reads history folds them into
`historical_summary`: once `SMS_SUMMARY_AFTER_MESSAGES` entries have gathered since the entry the
summary last read (`historical_summary_through`), the next message's plan asks for a new summary
alongside its reply. Pure rules here; the handler does the I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.sms_worker.domain.responder import HistoryEntry


@dataclass(frozen=True)
class ConversationWindow:
    """The recent entries, oldest first, and the summary of what came before them."""

    entries: tuple[HistoryEntry, ...]
    summary: str | None = None
    summary_version: int = 0
    summarised_through: str | None = None


@dataclass(frozen=True)
class SummaryUpdate:
    """A new summary to store, if the conversation is still at `version - 1`."""

    text: str
    version: int
    through: str
    tokens: int | None


@dataclass(frozen=True)
class Fold:
    """Entries to fold into the summary, oldest first; `through` is the newest one's id."""

    entries: tuple[HistoryEntry, ...]
    through: str


def entries_to_fold(window: ConversationWindow, fold_after: int) -> Fold | None:
    """The entries newer than the summary, once there are `fold_after` of them; else None.

    When the entry the summary last read has already left the window (the model was down for
    a while), everything still in the window is folded: what left unread cannot be recovered.
    """
    ids = [entry.entry_id for entry in window.entries]
    through = window.summarised_through
    fresh: Sequence[HistoryEntry] = window.entries
    if through is not None and through in ids:
        fresh = window.entries[ids.index(through) + 1 :]
    named = [(entry, entry.entry_id) for entry in fresh if entry.entry_id is not None]
    if len(named) < fold_after:
        return None
    return Fold(tuple(entry for entry, _ in named), named[-1][1])
