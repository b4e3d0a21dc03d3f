"""Free-text revocation: does the sender clearly ask *us* to stop texting them?

Carrier rules make the single keywords (STOP, UNSUBSCRIBE, …) certain; free text must be read.
A request counts only with an addressee we can be (me/us/this number, or no one else named) and
an object that is our messages (texts, messages, this service, the list) — never after a
negation ("please don't stop texting me"), for a third party ("my brother needs to stop texting
me"), or for another service or object ("opt out of hospice", "stop sending photos"). The
semantic head then confirms a clear request, and turns a likely but unclear one into a question.
"""

from __future__ import annotations

import re
from enum import StrEnum

from services.sms_worker.safety.text import normal_sentences


class Revocation(StrEnum):
    CLEAR = "clear"  # opt out
    UNCLEAR = "unclear"  # ask once whether they want to stop all texts
    # The words rule a revocation out: negated ("don't ever stop"), aimed at someone else, or a
    # question about how the texts work. Nothing may overrule this, the semantic head included:
    # sentence embeddings barely see a negation.
    NOT_US = "not_us"


_OUR_TEXTS = (
    r"(texts|text messages|messages|msgs|sms|texting|messaging|these|this|them|the texts|"
    r"your texts|your messages|these texts|these messages|those texts|this service|"
    r"reminders|check ins|check in texts|notifications|alerts|updates)"
)
_STOP = r"(stop|quit|cease|end|halt|discontinue|cancel)"
_REQUEST = (
    r"(please |pls |can you |could you |would you |will you |i want you to |i need you to |"
    r"you need to |just |kindly |)"
)
_CLEAR = tuple(
    re.compile(rf"\b{pattern}\b")
    for pattern in (
        rf"{_REQUEST}{_STOP} (texting|messaging|contacting|sending|txting) "
        r"(me|us|this number|my number|my phone)",
        rf"{_REQUEST}{_STOP} (sending )?(me |us )?(the |these |your |all )?(texts|messages|"
        r"msgs|sms|text messages|reminders|check ins)( to (me|us|this number|my phone))?$",
        r"(do not|never) (text|message|contact|txt|msg|send) (me|us|this number)( again| any "
        r"more| ever again)?$",
        r"(do not|never) (text|message|contact) (me|us|this number) (again|any more|ever)",
        r"(no more|no further) (texts|messages|msgs|sms|text messages|reminders|check ins)"
        r"( please| thanks| thank you| to this number| for me)?$",
        r"(unsubscribe|unsub|opt|remove|take|delete|drop|cancel) me( out)?( from| off)? "
        r"(this|your|the|these|all)? ?(list|service|texts|messages|program|system|"
        r"subscription|number list|mailing list|contact list|sms list|text list)?$",
        r"(unsubscribe|unsub|opt) me( out)?",
        r"(remove|take|delete|erase|drop) (me|my number|my phone number|my phone|my info) "
        r"(from|off) (this|your|the|these|all|ur) ?(list|lists|service|texts|messages|"
        r"program|system|database|contacts|subscription)",
        r"(remove|delete|erase) my (number|phone number|phone|contact info)$",
        r"(i|we) (want|wish|would like|need|would love|d like) to (unsubscribe|opt out|stop "
        r"(getting|receiving) (these|the|your|any) (texts|messages)|be removed|be taken off|"
        r"stop (these|the|your) (texts|messages))",
        r"(i|we) (do not|no longer|never) want (to (get|receive) )?(these|your|the|any more|"
        r"any|this|any of these|any of your|any further) (texts|messages|msgs|sms|text "
        r"messages|reminders|check ins|service)",
        r"(i am|i m) (done|finished) with (these|your|the|this) (texts|messages|service)",
        r"(leave me alone|go away) (and )?(stop|quit|no more)",
        r"(stop|quit) (it )?(and )?leave me alone",
        r"wrong number",
        r"(how do i|how can i|how to) (unsubscribe|opt out|stop (these|the|your) (texts|"
        r"messages)).*(want|need|please|asap|now)",
        r"(unsubscribe|opt out|optout|unsub) (please|pls|now|asap|thanks|thank you)$",
        r"^(please|pls|plz) (unsubscribe|opt me out|stop|remove me)$",
        r"^(stop|unsubscribe|quit|cancel|end) (please|pls|now|it|already|thanks|thank you|"
        r"texting|messaging|the texts|the messages|these texts|these messages)$",
    )
)
_UNCLEAR = tuple(
    re.compile(rf"\b{pattern}\b")
    for pattern in (
        rf"(too many|so many|enough) ({_OUR_TEXTS}|texts|messages)",
        r"(stop|unsubscribe|opt out|quit|cancel)",
        r"(not|no longer) (for me|helpful|helping|interested|useful)",
        r"(need|want|taking) a break from (this|these|you|the texts|the messages)",
    )
)
# A revocation aimed at somebody or something else than us.
_SOMEONE_ELSE = re.compile(
    r"\b(he|she|they|my (mom|mother|dad|father|brother|sister|husband|wife|son|daughter|"
    r"boss|ex|neighbor|aunt|uncle|friend|pharmacy|doctor|church|family|cousin)|the "
    r"(pharmacy|hospice|hospital|clinic|doctor|agency|church|school|nurse|insurance)|"
    r"(him|her|them)) (needs? to |has to |should |will |would |keeps? |wont |will not |"
    r"can not |tried to |wants to |to )?(stop|quit|unsubscribe|opt)"
)
_NEGATED_REQUEST = re.compile(
    r"\b((do not|never|not|please do not)( you)?( dare)?( ever)? (stop|quit|unsubscribe|opt|"
    r"remove|end|cancel|take me off)|(stopping|ending|cancelling|canceling) (these|the|your) "
    r"(texts|messages) is the last thing|(do not|never) want (these|the|your|them|you) (texts "
    r"|messages )?to (stop|end))\b"
)
_ADDRESSES_US = re.compile(r"\b(you|your|givecare)\b")
# Asking how the texts work is not asking them to stop ("will you stop texting me if I don't
# answer?"); "can you stop texting me?" is a request and stays one.
_QUESTION = re.compile(
    r"^((does|do(?! not)|did|is|are|if|when|what|how often|why)\b|"
    r"(will|would|can|could)\b.*\b(if|when|while|after|during|on weekends|at night)\b)"
)
# Another service or object: "unsubscribe me from the pharmacy's robocalls", "stop texting me
# the article links".
_OTHER_OBJECT = re.compile(
    r"\b((unsubscribe|unsub|opt|remove|take|drop) (me |us )?(out )?(of|from|off) (?!(this|your|"
    r"ur|these|the list|the texts|the messages|givecare|all|texts|messages|list|here)\b)|"
    r"(texting|sending|messaging) me (the |those |that |these |all )?(\w+ )?(links|articles|"
    r"photos|pictures|videos|memes|advice|recipes|jokes|quotes|emojis|gifs|news|politics)|"
    r"(calling|call) me \w+)"
)
_THIRD_PARTY_REQUEST = re.compile(
    r"\bmy (\w+ ){1,3}(needs? to |has to |should |would |will |keeps? |to |wont |will not )"
    r"(stop|quit|unsubscribe|opt)"
)


def read_revocation(text: str) -> Revocation | None:
    """CLEAR when the words ask us to stop, UNCLEAR when they might, None otherwise."""
    sentences = normal_sentences(text)
    clear = unclear = not_us = False
    for sentence in sentences:
        if _ruled_out(sentence):
            not_us = True
        elif _has_clear(sentence, negation_ok=True):
            clear = True
        elif any(pattern.search(sentence) for pattern in _UNCLEAR):
            unclear = True
    if clear:
        return Revocation.CLEAR
    if not_us:
        return Revocation.NOT_US
    return Revocation.UNCLEAR if unclear else None


def _ruled_out(sentence: str) -> bool:
    """A negated request, a question about the texts, or a request aimed at someone or
    something other than us."""
    if _NEGATED_REQUEST.search(sentence) or _OTHER_OBJECT.search(sentence):
        return True
    if _QUESTION.search(sentence) and _has_clear(sentence, negation_ok=True):
        return True
    someone_else = _SOMEONE_ELSE.search(sentence) or _THIRD_PARTY_REQUEST.search(sentence)
    return bool(someone_else) and not _ADDRESSES_US.search(sentence)


def _has_clear(sentence: str, *, negation_ok: bool) -> bool:
    for pattern in _CLEAR:
        for found in pattern.finditer(sentence):
            before = sentence[: found.start()].split()[-2:]
            if not negation_ok and any(word in {"not", "never"} for word in before):
                continue
            if any(word in {"not", "never"} for word in before) and not found.group().startswith(
                ("do not", "never")
            ):
                continue
            return True
    return False
