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
        # Not a quantity: "I have got enough of them" (pills) is not "enough of these".
        r"(?<!got )(?<!have )(?<!has )(no more|enough) of (these|them|this|your (texts|messages))",
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
        # Switching our texts off ("turn my texts off", "shut these off", "cut me off your
        # list").
        rf"(turn|shut|switch) (off )?(my |the |these |your |all |all the |all your )?({_OURS}|"
        r"these|them)( off)?( for good| for me| please| now)*$",
        rf"(turn|shut|switch|cut) (my |the |these |your |all |all the |all your )?{_OURS} off",
        rf"(turn|shut|switch|cut) off (my |the |these |your |all |all the |all your )?{_OURS}",
        rf"cut (me|{_NUMBER}) (off|out of) (\w+ ){{0,2}}({_LIST}|{_OURS})",
        # Formal wording: "kindly cease all text correspondence", "terminate all SMS
        # communication", "refrain from sending", "requesting removal", "unenroll me".
        rf"({_STOP}|terminate|suspend) (all |any )?(further |future )?(text |sms |texting |txt |"
        r"phone |mobile )?(correspondence|communications?|contact)(?! with (?!me|us|this))",
        r"refrain from (sending|texting|messaging|contacting)",
        rf"(request|requesting|ask for|asking for|want|need) (my |the )?removal( of {_NUMBER})?",
        rf"removal from (the|this|your) (\w+ ){{0,2}}({_LIST}|{_OURS})",
        rf"(unenroll|disenroll|un enroll|dis enroll)\w* (me|us|{_NUMBER})\b",
        r"(withdraw|withdrawing|unenrolling|disenrolling) (me )?from (the|this|your) (\w+ ){0,2}"
        r"(program|service|list|texts)",
        rf"(receive|get|send|sending|be sent) no (further|more) (\w+ )?{_OURS}",
        rf"(declin\w*|refus\w*) (all |any )?(further |future |more )?{_OURS}",
        r"(status|me) (to|as) (opted out|unsubscribed|inactive)",
        # Nothing more from us: "nothing else comes to this phone", "I want nothing more from
        # you", "no more contact from you", "zero more texts".
        r"nothing (else |more |further )?(comes|come|is sent|gets sent|goes) to (me|this (phone|"
        r"number|cell)|my (phone|number|cell))",
        r"(want|need) nothing (more |else |further )?from (you|givecare|this (service|program))",
        r"no (more|further) (contact|communication|texts?|messages?) from (you|givecare|this)",
        rf"(want|need|get) (zero|no) (more|further) (\w+ )?{_OURS}",
        # Consent or preference, said to us: "you do not have my consent", "I would rather you
        # did not text me", "can you not text me".
        r"(do not|no longer) have my (consent|permission)",
        r"rather you (did not|do not|not|stopped|quit|would not) (text|message|contact|send)",
        r"(can|could|would|will) you (please )?(not|never) (text|message|contact|send) (me|us|"
        r"this number)",
        r"^(please )?(do not|never) (text|message|contact|reach out)( to)?( me| us)?( any more|"
        r" again| ever again)?( please)?$",
        r"(do not|never|no longer) (reach out|contact|text|message)( to)?( me| us)? (any more|"
        r"again|ever again)",
        # Our texts may end: "the texts can stop now", "your texts got to stop", "I would like
        # the texts stopped".
        rf"{_OURS} (can|could|should|must|got to|need to|needs to|have to|has to) (now )?(end|"
        r"stop|be stopped|be cancelled)",
        rf"(like|want|need) (the |these |your |my |all the |all )?{_OURS} (stopped|ended|"
        r"cancelled|canceled|turned off|gone)",
        r"^(you can|you may|feel free to) stop( now| here| texting( me)?| messaging( me)?)?$",
        # Off the list: "off the list please", "I need off this list", "let me off your list".
        rf"(^|want|need|let me|get me|put me) ?off (the|this|your|ur) ({_LIST}|{_OURS})",
        rf"(want|need) {_NUMBER} (out of|off|removed from|taken off) (the|this|your|ur) {_LIST}",
        r"(take|get) (my|this) (phone )?number out\b",
        r"(delete|close|deactivate|erase|remove) my (account|profile|data|details)",
        r"forget (\w+ ){0,3}my (phone )?number",
        r"(last|final) (text|message) i (want to |would like to |wish to )?(get|receive)",
        r"ready to (stop (getting|receiving) (these|them|the texts|your texts)|unsubscribe|opt "
        r"out)",
        r"(do not|no longer) need (a|this|the|your) (text|texting|sms) (service|program)",
        # A question about how, answered with what they want: "is there a way to make the texts
        # stop? that is what I want".
        r"(is there a way|what do i (have to|need to)|how do i|how can i)\b.*\b(that is what i "
        r"want|i want (out|off|them gone|it gone))$",
        r"stop i (do not|no longer) want (them|these|it|any more)",
        # Asked as a favour: "would you mind removing my number?", "can you just not text me".
        rf"(would you mind|could you|can you|will you|please) (just )?(removing|remove|deleting|"
        rf"delete) (me|{_NUMBER})\b",
        r"(can|could|would|will) you (please )?(just )?(not|never) (text|message|contact|send)"
        r"( me| us| this number)?( any more| again)?$",
        rf"send nothing (more |else |further )?to (me|us|{_NUMBER})",
        rf"{_NUMBER} (removed|deleted|taken off)|{_OURS} (discontinued|cancelled|canceled|"
        r"stopped|turned off)",
        rf"(end|cancel|stop|terminate|discontinue) (the |your |this )?(service|texts|messages|"
        rf"subscription) (for|to|on) {_NUMBER}",
        r"cancel (my |the )?(sign up|signup|enrollment|registration|membership|account|"
        r"subscription)",
        r"cancel me( please| now| thanks| thank you)?$",
        rf"(done|finished) (getting|receiving|with) (\w+ )?{_OURS}",
        r"^(end|stop|cancel) (these|them|this|it all)( please| now| thanks)?$",
        rf"remove (it|this (phone|number|cell)) from (your|the|this|ur) ({_LIST}|{_OURS})",
        r"no need to (text|message|contact)( me| us)? (any more|again)",
        r"borr\w*me\b",
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
    r"(him|her|(?<!like )(?<!want )(?<!need )(?<!love )them)) (needs? to |has to |should |will |"
    r"would |keeps? |wont |will not |"
    r"can not |tried to |wants to |to )?(stop|quit|unsubscribe|opt)"
)
_NEGATED_REQUEST = re.compile(
    r"\b((do not|never|not|no) (want|wish|mean|need|plan|planning|asking|trying|going)( you)? to "
    r"(stop|quit|unsubscribe|opt|end|cancel|be removed|leave|remove|drop|delete|take me off)|"
    r"not that i (want|need)|i am not (leaving|quitting|unsubscribing|going anywhere|opting out)|"
    r"said (stop|unsubscribe|quit) to (my|the|a|his|her) \w+|"
    r"(nobody|no one) (should|can|may|is to|gets to) (take|remove|stop|unsubscribe|opt)|"
    r"(zero|no) (plans|intention|desire|interest|way) (to|of|i am going to) (stop|opt|unsubscribe|"
    r"quit|cancel)|(was going to|was about to|almost|nearly) ((hit|pressed|clicked|typed|sent|"
    r"replied) )?(opt|unsubscribe|stop|quit|cancel)|"
    r"(told|tells|telling|wants|wanted|asked|says|said) me to (unsubscribe|stop|opt|quit|cancel)|"
    r"reply stop to|(he|she|they|uncle|aunt|brother|sister|dad|mom|husband|wife|son|daughter) "
    r"(\w+ ){0,2}(replying|replied|texted|texting|typed|sent) stop|"
    r"(do not|never|not|please do not)( you)?( dare)?( ever)? (stop|quit|unsubscribe|opt|drop|"
    r"delete|"
    r"remove|end|cancel|take me off)|(stopping|ending|cancelling|canceling) (these|the|your) "
    r"(texts|messages) is the last thing|(do not|never) want (these|the|your|them|you) (texts "
    r"|messages |reminders |check ins )?to (stop|end)|under no circumstances|"
    r"(told|asked|tell|ask) (them|him|her) to (remove|take|stop|unsubscribe|opt|delete|cease|end|"
    r"terminate)|"
    # Someone else's advice, reported: "my daughter keeps saying I should stop these texts".
    r"(says|said|saying|keeps saying|thinks|suggested|suggests|told me|tells me) (that )?i "
    r"(should|ought to|need to|could|must) (stop|quit|unsubscribe|opt|cancel))\b"
)
_ADDRESSES_US = re.compile(r"\b(you|your|givecare)\b")
# Asking how the texts work is not asking them to stop ("will you stop texting me if I don't
# answer?"); "can you stop texting me?" is a request and stays one.
_QUESTION = re.compile(
    r"^((does|do(?! not| me a favou?r)|did|is|are|if|when|what|how often|why)\b|"
    r"(will|would|does|do(?! not))\b.*\bor\b|"
    r"(will|would|can|could)\b.*\b(if|when|while|after|during|on weekends|at night)\b)"
)
# Another service or object: "unsubscribe me from the pharmacy's robocalls", "stop texting me
# the article links".
_OTHER_OBJECT = re.compile(
    r"\b(unsubscribe (link|button)|(unsubscribe|unsubscribed|unsub|opt|opting|remove|removed|take|"
    r"taken|drop) (me |us )?(out )?"
    r"(of|from|off) (?!(this|your|"
    r"yours|ur|these|the (givecare |gc |daily |weekly |caregiver )?(text |txt |sms |texting |"
    r"message )?(list|texts|messages|program|service|system|reminders|check ins)|givecare\w*|"
    r"all|texts|messages|list|here|please|pls|asap|now|it|you|every|future|whatever|everything|"
    r"any|the whole)\b)|"
    r"(texting|sending|messaging) me (the |those |that |these |all )?(\w+ )?(links|articles|"
    r"photos|pictures|videos|memes|advice|recipes|jokes|quotes|emojis|gifs|news|politics)|"
    r"(calling|call) me \w+|(send|sending) me (a|an|the|those|that) (?!(text|texts|message|"
    r"messages|check|reminders|tips|updates|notifications|alerts|surveys)\b)\w+|"
    # Texts of another named thing: "the respite care waitlist texts", "the portal messages".
    # Only a kind of thing: "do not send me anything cheesy".
    r"send (me )?anything (?!(else|more|again|further|ever|at|please|any|thanks|to|from|"
    r"today|now)\b)\w+|"
    r"(waitlist|wait list|portal|refill|prescription|appointment|pharmacy|billing|bank|school) "
    r"(texts|messages|reminders|alerts|notifications)|"
    r"(texting|sending|messaging|calling|contacting) (him|her|my "
    r"(mom|dad|mother|father|husband|wife|son|daughter|brother|sister)|\w+ s phone)\b)"
)
# Someone else typed or sent it: "my grandson grabbed my phone and typed unsubscribe".
_SOMEONE_ELSE_SENT = re.compile(
    r"\b(my (?!(number|phone|contact|info|details|account|cell|data|status)\b)\w+|someone|"
    r"somebody|she|he|they)\b (\w+ ){0,6}(typed|texted|"
    r"replied|sent|said|quit|unsubscribed|signed up)\b"
)
# The caregiver says they want to keep the texts: nothing in the message opts them out.
_KEEP = re.compile(
    r"\b(keep texting|keep (the|these|my|sending) (texts|messages)|i am staying|i want (to keep|"
    r"(them|these|mine)\b(?!( \w+)? (to (stop|end|go|be)|gone|stopped|ended|cancel\w*|off|out|"
    r"removed)\b))|please ignore (it|that|this)|still want (them|these|the texts)|"
    r"please keep sending|(unsubscribe|stop|quit|opt out) never|(leave|keep) me (on|subscribed|"
    r"signed up|in)|keep (those|these|them|em|the \w+ ones)( \w+)? (forever|coming|going)|"
    r"i want more|(do not|never) want (fewer|less)|glad i did not|i want to stay|"
    r"(ignore|disregard) (\w+ ){0,3}(if|when) (she|he|they|someone|anyone))\b"
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
    r"\d+pm|anything after|so often|as often|every day|daily|weekly|while i am(?! at it)|during|"
    r"until)\b"
    # Or only some of the texts: "stop the hydration reminders but keep the check-ins".
    r"|\b((keep|keeping) (the|everything|just|sending|my|all)|but keep|everything else|"
    r"(reminders|messages|texts|tips|prompts|reminder) (about|for(?! (good|me|us|ever)\b))|"
    r"the same (tip|text|message)|"
    r"(texting|sending|messaging) me about|in the (texts|messages)|(long|short|voice|video|"
    r"bedtime) (messages|texts|ones)|ones only|as much|"
    r"(evening|morning|night|weekend|sunday|daily) (check ins|texts|reminders|messages)|"
    r"putting \w+ in|for now)\b"
)
# Thinking aloud about stopping, not asking.
_HEDGE = re.compile(
    r"\b(wonder if|wondering if|might|maybe|thinking about|thinking of|thought about|thought of|"
    r"decided against|considering|(?<!whom it )should i|"
    r"not sure|may\b|probably|kinda|kind of|sort of|feeling|debating|"
    r"(can|could) i(?! (please )?(be|get) (removed|taken|unsubscribed|opted))|how do i|"
    r"how can i|for future reference|just curious|not now)\b"
)
# Said to last for good: a schedule or hedge word elsewhere in the sentence does not make it
# partial ("stop sending these every day, unsubscribe").
_FOR_GOOD = re.compile(
    r"\b(for good|altogether|completely|permanently|entirely|once and for all|i want none|"
    r"none of them)\b|"
    r"(?<!to )\b(unsubscribe|unsub|opt me out)( me)?( please| now)?$"
)
# A question about how to stop, followed by the wish itself: "is there a way to make the texts
# stop? that is what I want".
_WANTS_IT = re.compile(
    r"(?<!if )(?<!when )\b(that is what i want|i want (out|off|them gone|it gone|it cancelled|"
    r"(it|them|these|the texts) to stop)|i would (like|love|appreciate) that|please do)"
    r"( now| please| asap| completely| for good)?$"
)
# A bare refusal right after the words: "opting out? me? never."
_REFUSAL = re.compile(
    r"^(never|no way|not a chance|no chance|nope|hell no|absolutely not|not happening|of course "
    r"not|not likely|not me)( ever)?$"
)
# A negation that is itself a reason to stop ("not interested, stop texting", "I do not want
# these, remove this number"): it does not negate the request after it.
_SELF_CONTAINED_NEGATION = re.compile(
    r"\b(not (interested|for me|helpful|helping|useful|needed|necessary|a caregiver|to be rude|"
    r"my number)|(do not|does not|no longer) (want|need) (these|them|this|it|your \w+|the \w+|"
    r"any more|more \w+)( any more)?)\b"
)
# The other sender is only a sender where the sentence names its texts or a list ("the rehab
# facility still texts me"), not where it is a place or a reason ("moved to a facility", "a
# group at my church").
_CONTACT_WORD = re.compile(
    r"\b(text|texts|texted|texting|message|messages|messaging|messaged|calls|calling|called|"
    r"emails|emailing|emailed|notifications|alerts|newsletter|list|sends|sending|sent|"
    r"unsubscribe\w*|opt|opted|taken off|signed me up)\b"
)
_PLACE = re.compile(r"\b(at|in|into|during|on|to) (the |my |a |his |her |our )?$")
_THIRD_PARTY_REQUEST = re.compile(
    r"^(my|our) \w+( \w+)? (asked|asks|wants|wanted|needs|said|says|does not want|would "
    r"like|would rather) to|"
    r"\bmy (?!((formal|written|official) )?(request|phone|number|status|account|cell|"
    r"line|info|subscription)\b)(\w+ ){1,3}(needs? to |has to |should |would |will |keeps? |to |"
    r"wont |will not )"
    r"(stop|quit|unsubscribe|opt)"
)

# Someone typing on the caregiver's phone for them ("this is his daughter typing for him",
# "I'm texting from her phone because she asked me to"): their request for the owner of this
# phone is a request about this number, said in the third person.
_PROXY = re.compile(
    r"\b(this is (his|her|their) \w+|(\w+ )?(here|typing|texting|replying|writing) (this )?(for|"
    r"on behalf of) (him|her|them|my \w+)|(texting|replying|writing|typing) (from|on) (his|her|"
    r"their|my \w+ s) phone|on (his|her|their) behalf|i (handle|manage|look after) (his|her|their) "
    r"phone|gave me (his|her|their) phone|helping (\w+ ){0,2}with (his|her|their) phone|(replying|"
    r"typing|writing) for my \w+|(he|she|they) asked me to (reply|text|tell|write|let you know))\b"
)
_PROXY_REQUEST = re.compile(
    r"\b((wants?|wanted|asked|asks|would like|needs?) (\w+ ){0,4}(to stop|stopped|off\b|to be "
    r"removed|removed|to unsubscribe|unsubscribed|cancelled|canceled|to end)|(stop|cancel|"
    r"unsubscribe|remove|end) (\w+ ){0,3}(him|her|them|for this number|this number)|"
    r"(finished|done) with (the|these|your) (texts|messages)|(wants|wanted) off|(stop|quit) "
    r"(texting|messaging|sending)\b)"
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
    "sndng": "sending",
    "sendng": "sending",
    "thse": "these",
    "cn": "can",
    "tke": "take",
    "canel": "cancel",
    "cancell": "cancel",
    "wnat": "want",
    "wnt": "want",
    "moer": "more",
    "fr": "for real",
    "snding": "sending",
    "thes": "these",
    "anymor": "any more",
    "moar": "more",
    "dnt": "do not",
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
    own = list(sentences)
    # Also the whole message as one, so "Do. Not. Text. Me." is read as it is meant.
    if len(sentences) > 1:
        sentences.append(" ".join(sentences))
    clear = unclear = not_us = passing = False
    first_clear = len(own)
    for number, sentence in enumerate(sentences):
        if _ruled_out(sentence):
            not_us = True
        elif _has_clear(sentence):
            partial = _SCHEDULE.search(sentence) or _HEDGE.search(sentence)
            if partial and not _FOR_GOOD.search(sentence):
                unclear = True
            else:
                clear = True
                first_clear = min(first_clear, number)
        elif any(pattern.search(sentence) for pattern in _UNCLEAR):
            unclear = True
        elif _REVOCATION_WORD.search(sentence):
            passing = True
    if any(_KEEP.search(sentence) for sentence in sentences):
        return Revocation.NOT_US
    whole = sentences[-1] if sentences else ""
    if _PROXY.search(whole) and _PROXY_REQUEST.search(whole) and not _NEGATED_REQUEST.search(whole):
        return Revocation.CLEAR
    if clear and any(_REFUSAL.search(sentence) for sentence in own[first_clear + 1 :]):
        # "opting out? me? never": the words are put, then refused.
        return Revocation.NOT_US
    if clear and _names_another_sender(own):
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


def _names_another_sender(sentences: list[str]) -> bool:
    """Another sender named as one (a sentence that names it and texts or a list), by a message
    that does not address us."""
    if any(_ADDRESSES_US.search(sentence) for sentence in sentences):
        return False
    for sentence in sentences:
        if not _CONTACT_WORD.search(sentence):
            continue
        for found in _OTHER_SENDER.finditer(sentence):
            if not _PLACE.search(sentence[: found.start()]):
                return True
    return False


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
    if _QUESTION.search(sentence) and _has_clear(sentence) and not _WANTS_IT.search(sentence):
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
            before = _SELF_CONTAINED_NEGATION.sub("", sentence[: found.start()]).split()[-4:]
            negated = any(word in {"not", "never"} for word in before)
            if not negated or found.group().startswith(("do not", "never")):
                return True
    return False
