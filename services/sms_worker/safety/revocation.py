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
    # A revocation word in passing, neither clear nor ruled out.
    IN_PASSING = "in_passing"


_OUR_TEXTS = (
    r"(texts|text messages|messages|msgs|sms|texting|messaging|these|this|them|the texts|"
    r"your texts|your messages|these texts|these messages|those texts|this service|"
    r"reminders|check ins|check in texts|notifications|alerts|updates)"
)
_STOP = r"(stop|quit|cease|end|halt|discontinue|cancel)"
_STOP_WORD = r"(stop|quit|cease|end|ending|halt|discontinue|cancel|enough|done with|no more)"
# Our messages, as people name them.
_OURS = (
    r"(texts|text messages|messages|msgs|txts|sms|reminders|check ins|(these|those|your|ur|the|"
    r"my|all|all the|all your|any more|any|givecare|gc) (texts|text messages|messages|msgs|txts|"
    r"reminders|check ins)|givecare|this service)"
)
_CONTACTING = r"(texting|messaging|txting|contacting|sending|reaching out|hitting my phone)"
_US = r"(me|us|this (phone|number)|my (phone|number)|these|them|stuff|anything|things|w these)"
_NUMBER = r"(my number|this number|my phone number|this phone|my phone|my info|my contact)"
_LIST = r"(list|lists|system|database|contacts|contact list|service|program|subscription)"
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
        # Request + our texts, in the same sentence ("please cancel my GiveCare texts",
        # "stop with the texts already", "quit it with the texts").
        rf"{_STOP_WORD} (\w+ ){{0,5}}{_OURS}",
        rf"{_STOP_WORD} (with )?(these|them|it with these)$",
        rf"{_STOP_WORD} (\w+ ){{0,2}}{_CONTACTING}( {_US}\b|$)",
        rf"(remove|delete|erase|take|get|drop|count) (me|us|{_NUMBER}) (\w+ )?(off|of|out of|"
        rf"from|out) (\w+ ){{0,2}}({_LIST}|{_OURS}|givecare|here|it)\b",
        rf"(take|get) (me|{_NUMBER}|my cell|this cell( phone)?) (off|out of)\b",
        rf"(remove|delete|erase|drop|scrub|wipe|lose) (me|us|{_NUMBER}|my cell|this (cell|cell "
        rf"phone|phone|number))\b",
        r"opt (this number|this phone|me|us) out|opting out",
        r"(do not|never) (ever )?(text|message|contact|txt|msg|send|write)( to)? (me|us|this "
        r"(number|phone|cell))\b",
        r"(do not|never) send (me )?(anything|any more|more|another)",
        r"i want (off|out)\b",
        rf"(want|like|need|wish) to stop (getting|receiving) (them|these|any|all|{_OURS})",
        r"(please|pls) stop$",
        r"(please|pls|just) stop (texting|messaging|txting)\b",
        r"(never heard of (you|givecare|this)|new number)",
        r"(be|being|get|have me) (removed|taken off|taken out|unsubscribed|deleted)",
        rf"{_NUMBER} (be |being )?(taken|removed|deleted) (out|off|from)",
        r"(shut|turn) (off|down) (the |these |your |all )?(texts|messages)",
        r"(rather|prefer) not (to )?hear from",
        r"(last|final) (text|message) i (get|receive)",
        r"no need to (text|message|contact) me",
        r"(no thank you|no thanks) to (any )?(further|more) (messages|texts)",
        r"not being contacted",
        r"no longer (be )?(part of|in|enrolled)",
        r"done (receiving|getting) (these|them|texts|messages)",
        rf"{_OURS} (need|needs|have|has) to (end|stop)",
        r"dejen? de (enviar|mandar|escribir)\w*|borr\w* mi numero|cancelar los mensajes|"
        r"numero equivocado|no me contact\w*",
        r"\bi (said|told you|already said|asked you to|already asked you to) stop",
        r"\bi (already )?(replied|texted|sent|typed) stop\b.*\b(still|again|why|you)\b",
        r"(do not|never|no longer) (text|message|contact|txt|msg|send|write)( to)? (me|us|"
        r"this number)\b",
        r"(consent|permission) (to|for) (\w+ ){0,4}(withdrawn|revoked)|(no longer|do not|not) "
        r"(consent|give (you )?permission)|(revoking|revoke|withdraw\w*) (my )?(consent|"
        r"permission)",
        r"(ask|request|asking|requesting) that (you )?(\w+ ){0,6}(cease|stop|end|be removed|no "
        r"longer (text|message|contact))",
        r"(prefer|rather) not to (receive|get|be sent)",
        r"end (all )?(text |sms )?communication",
        r"lose my number",
        r"(leaving|quitting|leave|quit|done with|exit|exiting) (the|this|your) (program|service)",
        r"(unsubscribe|unsub|opt me out|optout|opt out)( me| us| this (phone|number))?",
        rf"(do not|no longer|never|not|would rather not) (want|wish|need|like|get|receive) "
        rf"(to )?(\w+ ){{0,3}}({_OURS}|to hear from (you|givecare|this)|to be contacted|"
        rf"(these|them) any more|any more of (these|them|this))",
        r"(no more|enough) of (these|them|this|your (texts|messages))",
        rf"i want (them|these|these texts|the texts|it all) (gone|to stop|to end)|i want out of "
        rf"(these|{_OURS})",
        r"(stop|quit) (\w+ ){0,2}(reaching out|hitting my phone)",
        rf"(want|need|like|would like) (these|the|your|them|all|all the|these|my) ({_OURS} )?to "
        r"(stop|end|be over|go away)",
        r"make (these|them|the texts|the messages|your texts) (stop|end|go away)",
        r"make it so i (never|do not) (get|receive)",
        r"(withdraw|withdrawing|withdrew|revoke|revoking) (my )?consent",
        r"(request|asking|ask) (you )?to be (removed|taken off|unsubscribed)",
        rf"(should not|not|never) (receive|get) (any more|any further|more) {_OURS}",
        r"no longer welcome",
        rf"^(no|no more) {_OURS}( \w+)?$",
        r"(leave me alone|go away) (and )?(stop|quit|no more)|(stop|quit) (\w+ ){0,3}leave me "
        r"alone",
        r"(wrong number|not my number|never signed up|did not sign up|who is this)",
        r"(ya )?no (me )?(manden|envien|mande|envie|escriban|escriba) (mas )?(mensajes|textos)|"
        r"no quiero recibir|saquenme de|sacame de|dar(me)? de baja",
    )
)
# Words that may mean "stop texting me" but do not say it: always worth one question.
_UNCLEAR = tuple(
    re.compile(rf"\b{pattern}\b")
    for pattern in (
        rf"(too many|so many|enough) ({_OUR_TEXTS}|texts|messages)",
        r"(not|no longer) (for me|helpful|helping|interested|useful)",
        r"(need|want|taking) a break from (this|these|you|the texts|the messages)",
    )
)
# A revocation word in passing ("I quit"): a question only if the semantic head leans that way.
_REVOCATION_WORD = re.compile(r"\b(stop|unsubscribe|opt out|quit|cancel)\b")
# A revocation aimed at somebody or something else than us.
_SOMEONE_ELSE = re.compile(
    r"\b(he|she|they|my (mom|mother|dad|father|brother|sister|husband|wife|son|daughter|"
    r"boss|ex|neighbor|aunt|uncle|friend|pharmacy|doctor|church|family|cousin)|the "
    r"(pharmacy|hospice|hospital|clinic|doctor|agency|church|school|nurse|insurance)|"
    r"(him|her|them)) (needs? to |has to |should |will |would |keeps? |wont |will not |"
    r"can not |tried to |wants to |to )?(stop|quit|unsubscribe|opt)"
)
_NEGATED_REQUEST = re.compile(
    r"\b((do not|never|not|no) (want|wish|mean|need|plan|planning|asking|trying|going)( you)? to "
    r"(stop|quit|unsubscribe|opt|end|cancel|be removed|leave|remove|drop|delete|take me off)|"
    r"not that i (want|need)|i am not (leaving|quitting|unsubscribing|going anywhere|opting out)|"
    r"said (stop|unsubscribe|quit) to (my|the|a|his|her) \w+|"
    r"(nobody|no one) (should|can|may|is to|gets to) (take|remove|stop|unsubscribe|opt)|"
    r"(zero|no) (plans|intention|desire|interest|way) (to|of|i am going to) (stop|opt|unsubscribe|"
    r"quit|cancel)|(was going to|was about to|almost|nearly) (opt|unsubscribe|stop|quit|cancel)|"
    r"(told|tells|telling|wants|wanted|asked|says|said) me to (unsubscribe|stop|opt|quit|cancel)|"
    r"reply stop to|(he|she|they|uncle|aunt|brother|sister|dad|mom|husband|wife|son|daughter) "
    r"(\w+ ){0,2}(replying|replied|texted|texting|typed|sent) stop|"
    r"(do not|never|not|please do not)( you)?( dare)?( ever)? (stop|quit|unsubscribe|opt|drop|"
    r"delete|"
    r"remove|end|cancel|take me off)|(stopping|ending|cancelling|canceling) (these|the|your) "
    r"(texts|messages) is the last thing|(do not|never) want (these|the|your|them|you) (texts "
    r"|messages |reminders |check ins )?to (stop|end)|under no circumstances|"
    r"(told|asked|tell|ask) (them|him|her) to (remove|take|stop|unsubscribe|opt|delete))\b"
)
_ADDRESSES_US = re.compile(r"\b(you|your|givecare)\b")
# Asking how the texts work is not asking them to stop ("will you stop texting me if I don't
# answer?"); "can you stop texting me?" is a request and stays one.
_QUESTION = re.compile(
    r"^((does|do(?! not)|did|is|are|if|when|what|how often|why)\b|"
    r"(will|would|does|do)\b.*\bor\b|"
    r"(will|would|can|could)\b.*\b(if|when|while|after|during|on weekends|at night)\b)"
)
# Another service or object: "unsubscribe me from the pharmacy's robocalls", "stop texting me
# the article links".
_OTHER_OBJECT = re.compile(
    r"\b(unsubscribe (link|button)|(unsubscribe|unsubscribed|unsub|opt|opting|remove|removed|take|"
    r"taken|drop) (me |us )?(out )?"
    r"(of|from|off) (?!(this|your|"
    r"yours|ur|these|the (text |txt |sms |texting |message )?(list|texts|messages|program|"
    r"service|system)|givecare\w*|all|texts|messages|list|here|please|pls|asap|now|it|"
    r"whatever|everything|any|the whole)\b)|"
    r"(texting|sending|messaging) me (the |those |that |these |all )?(\w+ )?(links|articles|"
    r"photos|pictures|videos|memes|advice|recipes|jokes|quotes|emojis|gifs|news|politics)|"
    r"(calling|call) me \w+|(send|sending) me (a|an|the|those|that) (?!(text|texts|message|"
    r"messages)\b)\w+|(texting|sending|messaging|calling|contacting) (him|her|my "
    r"(mom|dad|mother|father|husband|wife|son|daughter|brother|sister)|\w+ s phone)\b)"
)
# Someone else typed or sent it: "my grandson grabbed my phone and typed unsubscribe".
_SOMEONE_ELSE_SENT = re.compile(
    r"\b(my (?!number|phone)\w+|someone|somebody|she|he|they)\b (\w+ ){0,6}(typed|texted|"
    r"replied|sent|said|quit|unsubscribed|signed up)\b"
)
# The caregiver says they want to keep the texts: nothing in the message opts them out.
_KEEP = re.compile(
    r"\b(keep texting|keep (the|these|my|sending) (texts|messages)|i am staying|i want (them|to "
    r"keep|these|mine)|please ignore (it|that|this)|still want (them|these|the texts)|"
    r"please keep sending|(unsubscribe|stop|quit|opt out) never)\b"
)
# Another sender named: the request is about their texts, not ours.
_OTHER_SENDER = re.compile(
    r"\b(amazon|bank|banks|pharmacy|cvs|walgreens|insurance|medicare|medicaid|aarp|hospice|"
    r"hospital|clinic|church|school|agency|company|newsletter|magazine|robocalls|spam|"
    r"telemarketers|facebook|email|emails|app|va|political|campaign|campaigns|dentist|lab|"
    r"urgent care|drugstore|rehab|facility|survey|employer)s?\b"
)
# Someone else unsubscribed: "unsubscribe dad from the magazine".
_SOMEONE_ELSES_SUBSCRIPTION = re.compile(
    r"\b(unsubscribe|remove|take|opt) (him|her|them|dad|mom|grandma|grandpa|my (?!number|phone|"
    r"info|contact|cell)\w+) (out )?(from|off|of)\b"
)
# Only when or how often: a preference to ask about, not a revocation.
_SCHEDULE = re.compile(
    r"\b(on (sundays|saturdays|mondays|tuesdays|wednesdays|thursdays|fridays|weekends|"
    r"weekdays)|at night|in the morning|so early|before \d+|after \d+|\d+ ?(am|pm)|\d+am|"
    r"\d+pm|anything after|so often|as often|every day|daily|weekly|while i am|during|until)\b"
    # Or only some of the texts: "stop the hydration reminders but keep the check-ins".
    r"|\b((keep|keeping) (the|everything|just|sending|my|all)|but keep|everything else|"
    r"(reminders|messages|texts|tips|prompts|reminder) (about|for)|the same (tip|text|message)|"
    r"(texting|sending|messaging) me about|in the (texts|messages)|(long|short|voice|video|"
    r"bedtime) (messages|texts|ones)|ones only|as much|"
    r"(evening|morning|night|weekend|sunday|daily) (check ins|texts|reminders|messages)|"
    r"putting \w+ in|for now)\b"
)
# Thinking aloud about stopping, not asking.
_HEDGE = re.compile(
    r"\b(wonder if|wondering if|might|maybe|thinking about|thinking of|considering|should i|"
    r"not sure|may|probably|kinda|kind of|sort of|feeling|debating|can i|could i|how do i|"
    r"how can i)\b"
)
_THIRD_PARTY_REQUEST = re.compile(
    r"^(my|our) \w+( \w+)? (asked|asks|wants|wanted|needs|said|says|does not want|would "
    r"like|would rather) to|"
    r"\bmy (\w+ ){1,3}(needs? to |has to |should |would |will |keeps? |to |wont |will not )"
    r"(stop|quit|unsubscribe|opt)"
)


# Typos of the words a revocation turns on, one keystroke away ("unsubscirbe", "remvoe",
# "texitng"), built once. Only long words: a short one is a keystroke from real words
# ("stop" from "step", "shop"), which are spelled out in `_SHORT_TYPOS` instead.
_KEY_WORDS = (
    "unsubscribe",
    "texting",
    "messaging",
    "messages",
    "message",
    "remove",
    "delete",
    "number",
    "please",
)
_REAL_WORDS = frozenset(
    {
        "remote",
        "removes",
        "testing",
        "resting",
        "nesting",
        "lumber",
        "member",
        "massage",
        "massages",
        "lease",
        "pleased",
        "pleaser",
    }
)
_SHORT_TYPOS = {
    "sotp": "stop",
    "stpo": "stop",
    "stoo": "stop",
    "mor": "more",
    "idw": "i do not want",
    "tk": "take",
    "rm": "remove",
    "cncl": "cancel",
    "cancl": "cancel",
    "msgin": "messaging",
    "mee": "me",
    "k": "ok",
}


def _one_keystroke_away(word: str) -> set[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    swaps = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaces = {a + c + b[1:] for a, b in splits if b for c in letters}
    inserts = {a + c + b for a, b in splits for c in letters}
    return deletes | swaps | replaces | inserts


_TYPOS = {
    typo: word
    for word in _KEY_WORDS
    for typo in _one_keystroke_away(word)
    # Inflections ("removed", "unsubscribed") are words, not typos: who did what matters.
    if typo not in _REAL_WORDS and typo not in _KEY_WORDS and typo[:-1] != word
} | _SHORT_TYPOS


def _corrected(sentence: str) -> str:
    return " ".join(_TYPOS.get(word, word) for word in sentence.split())


def read_revocation(text: str) -> Revocation | None:
    """CLEAR when the words ask us to stop, UNCLEAR when they might, None otherwise."""
    sentences = [_corrected(sentence) for sentence in normal_sentences(text)]
    # Also the whole message as one, so "Do. Not. Text. Me." is read as it is meant.
    if len(sentences) > 1:
        sentences.append(" ".join(sentences))
    clear = unclear = not_us = passing = False
    for sentence in sentences:
        if _ruled_out(sentence):
            not_us = True
        elif _has_clear(sentence):
            if _SCHEDULE.search(sentence) or _HEDGE.search(sentence):
                unclear = True
            else:
                clear = True
        elif any(pattern.search(sentence) for pattern in _UNCLEAR):
            unclear = True
        elif _REVOCATION_WORD.search(sentence):
            passing = True
    if any(_KEEP.search(sentence) for sentence in sentences):
        return Revocation.NOT_US
    if clear and _about_another_sender(" ".join(sentences)):
        # "The rehab facility still texts me. Need to call and get taken off": a request in
        # one sentence may be about a sender another one names. Ask rather than opt out.
        return Revocation.UNCLEAR
    if clear:
        return Revocation.CLEAR
    if not_us:
        return Revocation.NOT_US
    if unclear:
        return Revocation.UNCLEAR
    return Revocation.IN_PASSING if passing else None


def _about_another_sender(text: str) -> bool:
    return bool(_OTHER_SENDER.search(text)) and not _ADDRESSES_US.search(text)


def _ruled_out(sentence: str) -> bool:
    """A negated request, a question about the texts, or a request aimed at someone or
    something other than us."""
    if _NEGATED_REQUEST.search(sentence) or _OTHER_OBJECT.search(sentence):
        return True
    if _SOMEONE_ELSES_SUBSCRIPTION.search(sentence):
        return True
    if _about_another_sender(sentence):
        return True
    if _QUESTION.search(sentence) and _has_clear(sentence):
        return True
    # "My wife doesn't want your texts" is about her subscription, whoever it names.
    if _THIRD_PARTY_REQUEST.search(sentence):
        return True
    someone_else = _SOMEONE_ELSE.search(sentence) or _SOMEONE_ELSE_SENT.search(sentence)
    return bool(someone_else) and not _ADDRESSES_US.search(sentence)


def _has_clear(sentence: str) -> bool:
    """A clear request in `sentence`, unless a negation stands just before it (a request that
    itself begins "do not"/"never" — "do not text me" — carries its own negation)."""
    for pattern in _CLEAR:
        for found in pattern.finditer(sentence):
            before = sentence[: found.start()].split()[-4:]
            negated = any(word in {"not", "never"} for word in before)
            if not negated or found.group().startswith(("do not", "never")):
                return True
    return False
