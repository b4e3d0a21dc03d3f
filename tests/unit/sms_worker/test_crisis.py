"""Crisis detection: severities, the domestic-violence variant, and known false positives."""

from __future__ import annotations

import pytest

from services.sms_worker.crisis import CrisisFinding, Severity, detect_crisis

HIGH = CrisisFinding(Severity.HIGH)
HIGH_DV = CrisisFinding(Severity.HIGH, domestic_violence=True)
MEDIUM = CrisisFinding(Severity.MEDIUM)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # high
        ("I want to kill myself", HIGH),
        ("thinking about killing myself tonight", HIGH),
        ("I want to die", HIGH),
        ("i just wanna die", HIGH),
        ("I feel suicidal", HIGH),
        ("Thinking about suicide", HIGH),
        ("I'm going to end my life", HIGH),
        ("I want to end it all", HIGH),
        ("they'd be better off dead without me", HIGH),
        ("I wish I was dead", HIGH),
        ("I don't want to live anymore", HIGH),
        ("dont want to wake up tomorrow", HIGH),
        ("There's no reason to live", HIGH),
        ("I've been cutting myself", HIGH),
        ("I might hurt myself", HIGH),
        ("thinking of taking all my pills", HIGH),
        ("I could overdose", HIGH),
        ("I'm afraid I'll hurt her", HIGH),
        ("sometimes I want to smother him", HIGH),
        ("I WANT TO DIE!!!", HIGH),
        ("I\u2019m suicidal", HIGH),
        # domestic violence
        ("my husband hits me", HIGH_DV),
        ("He beat me again last night", HIGH_DV),
        ("my son is abusing me", HIGH_DV),
        ("I'm scared of my partner", HIGH_DV),
        ("he threatened to kill me", HIGH_DV),
        ("I think this is domestic violence", HIGH_DV),
        ("I don't feel safe at home", HIGH_DV),
        ("my husband hits me and I want to die", HIGH_DV),
        # medium
        ("I can't cope with this", MEDIUM),
        ("i cant take it anymore", MEDIUM),
        ("I can't do this anymore", MEDIUM),
        ("I feel hopeless", MEDIUM),
        ("there's no way out", MEDIUM),
        ("I'm falling apart", MEDIUM),
        ("I keep breaking down in the car", MEDIUM),
        ("I'm at the end of my rope", MEDIUM),
        ("I just want to disappear", MEDIUM),
        ("I feel so alone", MEDIUM),
        ("this is killing me", MEDIUM),
        ("Caring for mom is killing me", MEDIUM),
    ],
)
def test_crisis_table(text: str, expected: CrisisFinding) -> None:
    assert detect_crisis(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "cancel my subscription",
        "Can you help me cancel my appointment?",
        "the laundry is killing me",
        "This traffic is killing me",
        "my back is killing me",
        "the paperwork is literally killing me",
        "I'm dying to get some sleep",
        "that cake was to die for",
        "you're killing it with these tips",
        "I could kill for a nap",
        "just killing time at the clinic",
        "my phone died earlier",
        "Mom died last year and now I care for dad",
        "we watched a documentary about skills",
        "he skilled at chess",
        "the killer whale show",
        "I'm tired",
        "hi",
        "",
    ],
)
def test_false_positives_are_not_crisis(text: str) -> None:
    assert detect_crisis(text) is None


def test_an_idiom_does_not_hide_a_real_crisis_in_the_same_message() -> None:
    assert detect_crisis("the laundry is killing me and I want to die") == HIGH


@pytest.mark.parametrize(
    "text",
    ["I want to die for real", "I want to die. Of laughter? No.", "I want to die\nfor real"],
)
def test_an_idiom_never_swallows_a_crisis_phrase(text: str) -> None:
    """Found by tests/unit/fuzz: "to die for" and idioms reaching into the next sentence."""
    assert detect_crisis(text) == HIGH


def test_negation_is_not_excused() -> None:
    assert detect_crisis("I'm not suicidal, just tired") == HIGH
