"""The crisis lexicon reads words, not characters: case, punctuation and spacing never change a
finding, and a high-severity sentence stays high whatever is written around it.

Two marks are read on purpose, and random words never meet them: quotation marks around words the
message then explains away ('"I can't take this" was about the heat'), and the comma that ends
what the writer was "joking when I said"."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.sms_worker.safety.lexicon import LexiconHit, Severity, scan
from tests.support.fuzzing import fuzz_settings, hostile_text, words_and_noise

HIGH_SENTENCES = [
    "I want to kill myself",
    "I want to die",
    "I feel suicidal",
    "I am going to end my life",
    "I wish I was dead",
    "I don't want to live anymore",
    "I have been cutting myself",
    "I might take all my pills",
    "I'm afraid I'll hurt her",
    "my husband hits me",
]
# Words from the phrase lists and idioms, so that neighbours can interact with a sentence.
VOCABULARY = (
    "kill",
    "killing",
    "die",
    "dying",
    "to",
    "for",
    "of",
    "time",
    "it",
    "me",
    "is",
    "laughter",
    "the laundry",
    "could",
    "my phone died",
    "hopeless",
    "real",
    "cant",
    "cope",
)
ascii_words = st.lists(st.from_regex(r"[A-Za-z]{1,10}", fullmatch=True), min_size=1, max_size=12)
# Within a sentence: sentence ends (and a dash between spaces) are where idioms stop and where a
# subject is looked for; the next property covers those.
separators = st.text(st.sampled_from(' \t,:()"'), min_size=1, max_size=3)


def _severity(hits: tuple[LexiconHit, ...]) -> Severity | None:
    if not hits:
        return None
    return Severity.HIGH if any(h.severity is Severity.HIGH for h in hits) else Severity.MEDIUM


@fuzz_settings(120)
@given(words_and_noise(*VOCABULARY, *HIGH_SENTENCES) | hostile_text)
def test_any_message_gets_a_finding_or_none(text: str) -> None:
    for hit in scan(text):
        if hit.domestic_violence:
            assert hit.severity is Severity.HIGH


@fuzz_settings(120)
@given(ascii_words, st.lists(separators, min_size=12, max_size=12), st.booleans())
def test_case_spacing_and_punctuation_never_change_a_finding(
    words: list[str], gaps: list[str], shout: bool
) -> None:
    plain = " ".join(word.lower() for word in words)
    typed = "".join(word + gap for word, gap in zip(words, gaps, strict=False))
    assert scan(typed.upper() if shout else typed) == scan(plain)


@fuzz_settings(120)
@given(
    st.sampled_from(HIGH_SENTENCES),
    words_and_noise(*VOCABULARY),
    words_and_noise(*VOCABULARY),
)
def test_a_high_severity_sentence_stays_high_whatever_surrounds_it(
    sentence: str, before: str, after: str
) -> None:
    assert _severity(scan(f"{before}. {sentence}. {after}")) is Severity.HIGH
