"""One normal form of an SMS for every word rule: lower case, contractions spelled out, texting
shorthand and common misspellings replaced, punctuation dropped, split into sentences.

"he'll kill me" must not become "hell kill me", "dont wanna b here" must read as "do not want
to be here", and "kms" as "kill myself", or the rules would need every spelling of every phrase.
"""

from __future__ import annotations

import re
import unicodedata

# Written-out contractions, before apostrophes go ("he'll" is not "hell").
_CONTRACTIONS = (
    (re.compile(r"\b(can)'?t\b"), "can not"),
    (re.compile(r"\bwon'?t\b"), "will not"),
    (re.compile(r"\bain'?t\b"), "is not"),
    (re.compile(r"\b(\w+)n't\b"), r"\1 not"),
    (re.compile(r"\b(i|you|he|she|we|they|it|that|there|who)'ll\b"), r"\1 will"),
    (re.compile(r"\b(i|you|he|she|we|they|it|that|there|who)'d\b"), r"\1 would"),
    (re.compile(r"\b(\w+)'re\b"), r"\1 are"),
    (re.compile(r"\b(\w+)'ve\b"), r"\1 have"),
    (re.compile(r"\bi'm\b"), "i am"),
    (re.compile(r"\b(he|she|it|that|there|what|who)'s\b"), r"\1 is"),
)

# Whole words as texted → as written. Only words with a single plausible reading here ("ill"
# may be "I'll" or "sick", so it stays).
_WORDS = {
    "dont": "do not",
    "doesnt": "does not",
    "didnt": "did not",
    "cant": "can not",
    "cannot": "can not",
    "cnt": "can not",
    "wont": "will not",
    "wouldnt": "would not",
    "couldnt": "could not",
    "shouldnt": "should not",
    "isnt": "is not",
    "arent": "are not",
    "wasnt": "was not",
    "werent": "were not",
    "havent": "have not",
    "hasnt": "has not",
    "aint": "is not",
    "im": "i am",
    "ive": "i have",
    "hes": "he is",
    "shes": "she is",
    "theyre": "they are",
    "theyll": "they will",
    "youre": "you are",
    "thats": "that is",
    "wanna": "want to",
    "wana": "want to",
    "gonna": "going to",
    "gona": "going to",
    "gotta": "got to",
    "tryna": "trying to",
    "imma": "i am going to",
    "ima": "i am going to",
    "finna": "going to",
    "kms": "kill myself",
    "kys": "kill yourself",
    "ctb": "kill myself",
    "unalive": "kill",
    "unaliving": "killing",
    "sewerslide": "suicide",
    "sui": "suicide",
    "od": "overdose",
    "oding": "overdosing",
    "odd": "overdosed",
    "b": "be",
    "u": "you",
    "ur": "your",
    "r": "are",
    "n": "and",
    "y": "why",
    "rn": "right now",
    "tn": "tonight",
    "2nite": "tonight",
    "tonite": "tonight",
    "2day": "today",
    "2morrow": "tomorrow",
    "tmrw": "tomorrow",
    "tmr": "tomorrow",
    "pls": "please",
    "plz": "please",
    "anymore": "any more",
    "anymre": "any more",
    "nomore": "no more",
    "myslef": "myself",
    "meself": "myself",
    "mysef": "myself",
    "sucide": "suicide",
    "suicde": "suicide",
    "suiside": "suicide",
    "suacide": "suicide",
    "sucidal": "suicidal",
    "suicidial": "suicidal",
    "suicdal": "suicidal",
    "sucicidal": "suicidal",
    "suisidal": "suicidal",
    "dye": "die",
    "ded": "dead",
    "pils": "pills",
    "pillz": "pills",
    "evry": "every",
    "evryone": "everyone",
    "every1": "everyone",
    "any1": "anyone",
    "some1": "someone",
    "no1": "no one",
    "noone": "no one",
    "bc": "because",
    "cuz": "because",
    "coz": "because",
    "bcuz": "because",
    "wit": "with",
    "w": "with",
    "abt": "about",
    "thru": "through",
    "tho": "though",
    "ppl": "people",
    "msg": "message",
    "msgs": "messages",
    "txt": "text",
    "txts": "texts",
    "txting": "texting",
    "texing": "texting",
    "msging": "messaging",
    "stp": "stop",
    "stahp": "stop",
    "stopp": "stop",
    "unsubb": "unsubscribe",
    "unsubscib": "unsubscribe",
    "unsubscibe": "unsubscribe",
    "unsubscrib": "unsubscribe",
    "unsuscribe": "unsubscribe",
    "rmv": "remove",
    "frm": "from",
    "txtn": "texting",
    "txtng": "texting",
    "txtin": "texting",
    "sendin": "sending",
    "textin": "texting",
    "hittin": "hitting",
    "dnt": "do not",
    "agin": "again",
    "plez": "please",
    "cancle": "cancel",
    "enuf": "enough",
    "ty": "thanks",
    "thx": "thanks",
}
_HELD_LETTERS = re.compile(r"([a-zA-Z])\1{2,}")
_SENTENCE_END = re.compile(r"[.!?;\n]+|\s[-\u2013\u2014]+\s")
_NON_WORD = re.compile(r"[^a-z0-9]+")
# Dots that trail off after a word ("goodbye... until"), not a full stop and then more dots.
_ELLIPSIS = re.compile(r"(?<![.!?;])(?<![.!?;]\s)(?:\.{2,}|\u2026)")


def _spell_out(text: str) -> str:
    # Accents off ("más" → "mas"), "#" read as a number ("remove my #"), and letters held down
    # ("stoppp", "sooo") brought back to two.
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _HELD_LETTERS.sub(r"\1\1", text.replace("#", " number "))
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    return text


def normal_words(text: str) -> str:
    """`text` as space-separated normal words: "I cant do this anymore!!" → "i can not do this
    any more"."""
    words = _NON_WORD.sub(" ", _spell_out(text).replace("'", "")).split()
    return " ".join(_WORDS.get(word, word) for word in words)


def normal_sentences(text: str) -> list[str]:
    """The normal words of each sentence of `text` (empty ones dropped)."""
    return [words for part in _SENTENCE_END.split(text) if (words := normal_words(part))]


def normal_sentence_groups(text: str) -> list[list[str]]:
    """`normal_sentences(text)`, those an ellipsis runs together in one group: "this is
    goodbye... until tomorrow" is one thought, "I'm done. Tomorrow..." two."""
    groups: list[list[str]] = []
    for number, chunk in enumerate(_ELLIPSIS.split(text)):
        sentences = normal_sentences(chunk)
        if number and groups and sentences:
            groups[-1].append(sentences.pop(0))
        groups += [[sentence] for sentence in sentences]
    return groups
