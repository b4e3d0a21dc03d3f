"""When the historical summary is brought up to date, and which entries it folds in."""

from __future__ import annotations

import pytest

from services.sms_worker.domain.responder import HistoryEntry
from services.sms_worker.domain.summary import ConversationWindow, entries_to_fold
from services.sms_worker.settings import SmsWorkerSettings


def _entries(count: int, start: int = 0) -> tuple[HistoryEntry, ...]:
    return tuple(
        HistoryEntry("inbound" if n % 2 == 0 else "outbound", f"message {n}", f"m{n}")
        for n in range(start, start + count)
    )


def test_nothing_is_folded_until_enough_entries_gathered() -> None:
    assert entries_to_fold(ConversationWindow(_entries(3)), fold_after=4) is None
    fold = entries_to_fold(ConversationWindow(_entries(4)), fold_after=4)
    assert fold is not None
    assert [e.entry_id for e in fold.entries] == ["m0", "m1", "m2", "m3"]
    assert fold.through == "m3"


def test_only_entries_after_the_last_summarised_one_count() -> None:
    window = ConversationWindow(_entries(8), "earlier", 2, summarised_through="m4")
    assert entries_to_fold(window, fold_after=4) is None  # m5..m7: three
    window = ConversationWindow(_entries(9), "earlier", 2, summarised_through="m4")
    fold = entries_to_fold(window, fold_after=4)
    assert fold is not None
    assert (fold.entries[0].entry_id, fold.through) == ("m5", "m8")


def test_a_summary_whose_last_entry_left_the_window_folds_the_whole_window() -> None:
    window = ConversationWindow(_entries(6, start=30), "old", 1, summarised_through="m2")
    fold = entries_to_fold(window, fold_after=4)
    assert fold is not None
    assert [e.entry_id for e in fold.entries] == [f"m{n}" for n in range(30, 36)]


def test_entries_without_ids_are_not_folded() -> None:
    anonymous = (HistoryEntry("inbound", "migrated, no id"),) * 5
    assert entries_to_fold(ConversationWindow(anonymous), fold_after=4) is None


def test_the_summary_must_read_entries_before_they_leave_the_window() -> None:
    with pytest.raises(ValueError, match="SMS_SUMMARY_AFTER_MESSAGES"):
        SmsWorkerSettings(recent_messages=10, summary_after_messages=10)
