"""The crisis lexicon: phrases of recognised risk categories, on normalised words.

Categories follow the Columbia Suicide Severity Rating Scale (wish to be dead, ideation, method
or means, intent, plan, preparatory acts, self-harm) plus hopelessness, perceived
burdensomeness, harm to or from others, domestic violence and immediate danger. Spelling and
shorthand are handled once, in `text.normal_words` ("kms", "wanna end it", "cant"). A phrase
does not count when a negation governs it ("I would never hurt myself", "he doesn't have a plan
to hurt himself"), when it sits inside a known idiom or hyperbole ("dying to see her", "he'll
kill me, I bought another plant"), when the writer quotes or reports it and explains it away
('"I can't take this" was about the heat', "when I said I want to disappear I meant a beach"),
when it is a screening question reported with its answer no, or when a show's plot says it;
the semantic layer still reads those messages. A first-person phrase said of someone else
("mom says she wants to die") is a concern for the care recipient (medium), which is the
product's policy (docs/safety.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from services.sms_worker.safety.text import normal_sentence_groups, normal_words


class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"


class Category(StrEnum):
    WISH_TO_BE_DEAD = "wish_to_be_dead"
    IDEATION = "ideation"
    METHOD_OR_MEANS = "method_or_means"
    INTENT = "intent"
    PLAN = "plan"
    PREPARATORY_ACTS = "preparatory_acts"
    SELF_HARM = "self_harm"
    HOPELESSNESS = "hopelessness"
    BURDENSOMENESS = "burdensomeness"
    HARM_TO_OTHERS = "harm_to_others"
    HARM_FROM_OTHERS = "harm_from_others"
    DOMESTIC_VIOLENCE = "domestic_violence"
    IMMEDIATE_DANGER = "immediate_danger"
    CONCERN_FOR_OTHER = "concern_for_other"


@dataclass(frozen=True)
class LexiconHit:
    category: Category
    severity: Severity
    domestic_violence: bool = False


@dataclass(frozen=True)
class _Rule:
    category: Category
    severity: Severity
    pattern: re.Pattern[str]
    # First-person phrases: said of someone else, they are a concern for that person instead.
    about_speaker: bool = False
    domestic_violence: bool = False
    # No anchor or look-around: a match in any one sentence is also a match in the whole message,
    # so a whole message it does not match needs no sentence tried.
    whole_first: bool = False


# Anchors and look-arounds: what they see differs between a sentence and the whole message.
_CONTEXT_SENSITIVE = re.compile(r"\(\?<?[!=]|\^|\$")


_KIN = (
    r"(mom|mother|mum|dad|father|husband|wife|partner|spouse|son|daughter|brother|sister|"
    r"grandma|grandpa|grandmother|grandfather|aunt|uncle|boyfriend|girlfriend|ex|fiance|"
    r"stepdad|stepfather|stepmom|stepmother|nephew|niece|roommate|cousin|family)"
)
_PERSON = rf"(him|her|them|my {_KIN}|my {_KIN}s)"
_ABUSER = rf"(he|she|they|my {_KIN}|my {_KIN}s|{_KIN})"
_MEANS = (
    r"(pills|meds|medication|medications|tablets|morphine|oxy|oxycodone|oxycontin|opioids|"
    r"fentanyl|insulin|sleeping pills|painkillers|pain pills|pain meds|xanax|ambien|tylenol|"
    r"bottle|bottles|percocet|vicodin|hydrocodone|tramadol|lorazepam|ativan|valium|klonopin|"
    r"gabapentin|warfarin|coumadin|metoprolol|acetaminophen|advil|ibuprofen|aspirin|digoxin|"
    r"lithium|seroquel|trazodone|benadryl|nyquil|potassium|patches|rx|bleach|antifreeze|"
    r"heart pills|chemo pills|insulin pen|insulin pens|liquid morphine|comfort kit|zolpidem|"
    r"antidepressants|sleeping meds|clonazepam|methadone|dilaudid|hydromorphone)"
)
# Places and things people name when they think of dying by them.
_PLACE = (
    r"(bridge|overpass|ledge|railing|balcony|roof|rooftop|cliff|cliffs|tracks|train|platform|"
    r"river|pond|lake|quarry|parking garage|garage|beam|rope|belt|cord|extension cord|noose)"
)
# Death words that turn a medication question into a method question.
_LETHAL = (
    r"(die|kill|killing|stop a heart|stop my heart|not wake up|wake up from|fatal|"
    r"lethal|enough to(?! (last|get|see|cover|carry|make it|hold|tide))|too much to|autopsy|"
    r"painful|peaceful|destroys|do it|overdose|od|"
    r"end it|for sure)"
)
_WEAPON = (
    r"(gun|guns|rifle|pistol|shotgun|revolver|firearm|knife|knives|blade|blades|razor|razors|"
    r"rope|service pistol|hunting rifle)"
)
_ANY_MORE = r"( any more| any longer| much longer| like this)?"
_GUN = r"(gun|guns|rifle|rifles|pistol|handgun|shotgun|revolver|firearm)"
# Further means and high or deep places, for the rumination rule below.
_MEANS_MORE = (
    r"(parking (garage|deck|structure)|quarry|gorge|dam|causeway|overlook|lookout|jetty|ravine|"
    r"guardrail|interstate|highway|freight|express|crossing|railroad|rail line|edge|pool|ice|"
    r"window|knife block|gun cabinet|gun safe|garage door|exhaust|carbon monoxide|ammo|handgun|"
    r"tow rope|tow strap|med cart|med cabinet|medicine cabinet|blood thinners?|propranolol|"
    r"amlodipine|zoloft|blister pack|vial|syringes|lozenges|semis|scissors|shotgun|revolver)"
)
# The mind going back to a means: "... and lately that cabinet is all I think about".
_RUMINATION = (
    r"(all i (can |could )?think was|i (\w+ )?think about (it|that|them|this|jumping|"
    r"climbing|walking (in|into|out)|driving (into|off)|going (over|off)|turning (it|the wheel)|"
    r"not stopping|stopping|the drop|it for me|me)\b|(been|keep|kept|started|start|i am) "
    r"(thinking|picturing|imagining|fantasi\w+) (about )?(it|that|them|jumping|climbing|a walk|"
    r"not stopping|stopping|the drop|me|using|walking (in|into|out)|driving (into|off)|going "
    r"(over|off))\b|where my (head|brain|mind|eyes) (goes|go|went)|my (head|brain|mind) (goes|"
    r"went) there|keep (coming back to|going (back )?to check|taking (it|them) out|taking "
    r"inventory)|(is not|isnt) there for protection|not for (anybody|anyone) else|for me,? not "
    r"(for )?(him|her|them|"
    r"anybody|anyone)|scared of (me|myself)|(would|could|will) do to (me|myself|someone (my|of "
    r"my) (size|weight))|how easy it would be|the pull to|worked out (how (many|much)|what (it|"
    r"they|\w+ of it) would)|turning it on myself|using it on myself)"
)
# A death that would come to the speaker without their doing: "if a truck hit me", "if my
# heart quit", "if I didn't wake up".
_DEATH_IF = (
    r"(if i (\w+ ){0,8}(died|die|(got|get) hit (by|crossing)|(did not|do not|never) (make it|wake "
    r"up|woke "
    r"up)|stopped breathing|was (gone|dead)|was not (here|alive|around))|if my (heart|breathing) "
    r"(\w+ ){0,4}(quit|quits|stopped|stops|gave out|gives out)|if (a|the) (car|truck|bus|tree|"
    r"plane) (\w+ ){0,6}(hit me|hits me|went off the road|slid off|falls on|fell on|t boned|"
    r"crashed|went down)|if the cancer (\w+ ){0,4}(were|was) mine)"
)
_ACCEPT = (
    r"((would|will|that is|thats|it is|be|feel) (\w+ ){0,2}(ok|okay|fine|relief|relieved|"
    r"grateful|welcome)|(would|will) not (be )?(that )?"
    r"(upset|mind)|would not hate|a vacation|a gift|fine by me)"
)


def _rules(
    category: Category,
    severity: Severity,
    *patterns: str,
    about_speaker: bool = False,
    domestic_violence: bool = False,
) -> list[_Rule]:
    return [
        _Rule(
            category,
            severity,
            re.compile(rf"\b{pattern}\b"),
            about_speaker=about_speaker,
            domestic_violence=domestic_violence,
            whole_first=_CONTEXT_SENSITIVE.search(pattern) is None,
        )
        for pattern in patterns
    ]


HIGH, MEDIUM = Severity.HIGH, Severity.MEDIUM
C = Category

_RULES: tuple[_Rule, ...] = (
    *_rules(
        C.WISH_TO_BE_DEAD,
        HIGH,
        r"wish(ed)? (that )?i (was|were|could be|would be) (dead|gone|never born|not alive|"
        r"not here)",
        r"wish(ed)? i (could )?(just )?(die|disappear forever|disappear permanently|not wake up|"
        r"never wake up|stop existing)",
        r"wish i (had )?never (been|was) born",
        r"wants? to (die|be dead|not exist|stop existing|not be alive|not wake up|never wake up)",
        r"(do not|does not|never) (want|wish) to (live|be alive|exist|wake up|go on|keep living|"
        r"be here)",
        r"(do not|does not) want to be (alive|here|on this earth|in this world)",
        r"(hope|hoping|pray|praying) (that )?i (do not|never|will not) wake up",
        r"(sleep|fall asleep|go to sleep) and (not|never) wake up",
        r"(better|rather be|better being) off dead",
        r"(would|had) rather (be dead|die|not exist|not be alive|not wake up|not be here)",
        r"(tired|sick) of (living|being alive|life|existing)",
        r"(no|not any|no real) (reason|point) (to|in|of) (live|living|going on|being alive|"
        r"being here)",
        r"(what is|whats) the point (of|in) (living|life|being alive|going on)",
        r"nothing (left )?to live for",
        r"(life is )?not worth (living|it any more)",
        r"(do not|does not) care if i (die|live|wake up)",
        r"(let|just let) me die",
        r"ready to die",
        r"done with (life|living|being alive)",
        r"(want|wish|need) (it|this|everything|it all) (all )?to (end|be over)",
        r"(not|never) (be|being) alive (any more|by)",
        r"(easier|better|peaceful) (if i|to) (just )?(was not|were not|not be|not being) (alive|"
        r"here|around)",
        r"(can not|do not want to) (go on|keep) living",
        about_speaker=True,
    ),
    *_rules(
        C.IDEATION,
        HIGH,
        r"suicidal",
        r"(think|thinking|thought|thoughts|considering|considered|contemplating|"
        r"researching|googling|googled) (about |of )?(suicide|killing myself|ending it|"
        r"ending my life|ending things|dying|not being here|not existing)",
        r"(commit|committing|attempt|attempting|attempted) suicide",
        r"suicide (is|seems) (the|my) (only )?(way|option|answer|choice)",
        r"(kill|killing|killed|hang|hanging|shoot|shooting|drown|drowning|poison|poisoning|"
        r"off|offing|end|ending) myself",
        r"(end|ending|take|taking) my (own )?life",
        r"end it all",
        r"(want|going|ready|plan|planning|about|need|decided|try|trying) to (just )?end "
        r"(it|things|everything|my life)( all)?",
        r"(just )?end (it|things) (now|tonight|today|for good)",
        r"(not|will not) (be|be here|be around|still be here) (much longer|for long|"
        r"next week|by (next week|tomorrow|the weekend)|this time next)",
        r"this is (my )?(goodbye|the end|my last message)",
        r"(goodbye|bye) forever",
        about_speaker=True,
    ),
    *_rules(
        C.METHOD_OR_MEANS,
        HIGH,
        rf"(how many|enough) (of )?(his|her|my|the|their|those|these|mom s|dad s)? ?{_MEANS} "
        r"(it )?(would|will|to) (take|kill|be fatal|be enough|do it|end)",
        rf"(take|taking|swallow|swallowing|down|downing) (all|every one|the whole bottle) "
        rf"(of )?(my|the|her|his|their|those|these)? ?{_MEANS} (at once|together|and)",
        rf"(stockpil\w*|saving|hoarding|stash\w*|collecting) (up )?(his |her |my |the )?"
        rf"{_MEANS}",
        rf"{_MEANS} (saved|stockpiled|stashed|hidden) (up )?",
        rf"(might|could|going to|want to|thinking (about|of)) (just )?(take|taking|swallow|"
        rf"swallowing) (all|every one|the rest) (of )?(my |the |her |his )?{_MEANS}",
        r"(i|i am|want to|going to|could|should|might|thinking about) (just )?overdos\w*",
        r"(noose|tie a rope|hang myself|exhaust pipe|hose (for|to) the (car|exhaust))",
        r"(jump|jumping|throw myself) (off|from|in front of) (a |the )?(bridge|building|roof|"
        r"train|car|truck|bus|traffic|cliff|overpass|balcony)",
        r"(step|walk|walking|stepping) (out )?in front of (a |the )?(train|bus|truck|car|traffic)",
        r"(drive|driving|crash|crashing|steer) (my car |the car )?(into|off) (a |the )?(tree|"
        r"wall|bridge|cliff|river|lake|oncoming|pole|overpass|embankment)",
        rf"({_WEAPON}|{_MEANS}) (is |are )?(in my hand|in my hands|on my lap|in front of me|"
        r"next to me|right here)",
        rf"(holding|loaded|loading|cleaning) (the |a |his |her |my |dad s )?{_WEAPON} "
        rf"(and|thinking|right now)",
        rf"(keep|kept) (thinking|looking) (about|at) (his |her |the |dad s |mom s |my )?"
        rf"({_WEAPON}|{_MEANS})",
        about_speaker=True,
    ),
    *_rules(
        C.INTENT,
        HIGH,
        r"(going|decided|planning|plan|ready|about) to (do it|go through with it|kill myself|die|"
        r"take them all|take the pills|take all the pills|end it|not wake up)",
        r"(i am|i will|will) (do it|go through with it) (tonight|tomorrow|today|this time|soon)",
        r"(mean|meant) it this time",
        about_speaker=True,
    ),
    *_rules(
        C.PLAN,
        HIGH,
        r"(know|figured out|decided|picked|chosen) (exactly )?(how|when|where|the day|the date) "
        r"(i will|i am going to|to do it|to die|to end it|i would do it)",
        r"(i have|got|made) a plan$|a plan to (die|end it|kill myself|do it|not wake up)",
        r"the plan is to (die|end it|kill myself)",
        about_speaker=True,
    ),
    *_rules(
        C.PREPARATORY_ACTS,
        HIGH,
        r"(giving|gave|give|given) away (all )?(my|all my) (things|stuff|belongings|possessions|"
        r"clothes|jewelry|pets|dog|cat|guns)",
        r"(wrote|writing|written|left|leave|leaving) (a |my )?(suicide|goodbye|final|last) "
        r"(note|notes|letter|letters)",
        r"(wrote|writing|written) (letters|notes|goodbye letters) (to|for) (my |each of my )?"
        r"(kids|children|family|everyone|husband|wife|son|daughter)",
        r"(said|saying|say) (my )?goodbyes",
        r"(getting|got|putting|put) my affairs in order",
        r"(do not|please do not) (try to )?(look for|find|save|come after|follow) me",
        r"(this is|these are) my (last|final) (message|text|words|goodbye)",
        r"(nobody|no one) (can|will|could) (stop|save) me",
        about_speaker=True,
    ),
    *_rules(
        C.SELF_HARM,
        HIGH,
        r"(hurt|harm|cut|hit|punch|punched|scratch|bruise|starve|hurting|"
        r"harming|cutting|hitting|punching|scratching|starving|cutting up) (my ?self|"
        r"my (own )?(arm|arms|wrist|wrists|legs|thighs|skin))",
        r"self (harm|harming|injury|injuring)",
        r"(started|start|back to|relapsed|relapse) (into |on )?(cutting|self harm|"
        r"hurting myself)",
        r"(slit|slitting|cut|cutting) (my|his|her) (wrists|wrist|throat)",
        r"(razor|blade|blades) (to|on|across) my",
        r"on purpose (to|so i could) feel",
        about_speaker=True,
    ),
    *_rules(
        C.HARM_TO_OTHERS,
        HIGH,
        rf"(kill|smother|strangle|suffocate|poison|shoot|stab|choke) {_PERSON}",
        rf"(want|going|tempted|afraid|scared|terrified|worried|urge|urges|might|could|almost|"
        rf"close) (to |i will |i might |i could |i would |of )?(hurt|harm|hit|shake|slap|"
        rf"smother|push|kill|choke) {_PERSON}",
        r"pillow over (his|her|their) face",
        rf"(give|gave|giving) {_PERSON} (all|extra|too much|too many|the whole) (of )?"
        rf"(the |his |her |their )?{_MEANS} (on purpose|so (he|she|they) (would|will|could))",
        r"(shake|shaking|shook|hit|hitting|slapped|slap) (my )?(the )?(baby|son|daughter|kid|"
        r"child|him|her) (so hard|until)",
        rf"(thought|thinking|think) about (hurting|harming|killing|smothering|shaking|hitting) "
        rf"{_PERSON}",
    ),
    *_rules(
        C.DOMESTIC_VIOLENCE,
        HIGH,
        rf"{_ABUSER} ((?!not |never )\w+ ){{0,3}}(hits|hit|beats|beat|chokes|choked|kicks|"
        r"kicked|slaps|slapped|"
        r"abuses|abused|strangled|strangles|pushed|shoved|punched|punches|grabbed|raped|"
        r"threatens|threatened|bit|bites|burned|locked|locks|hurts|hurt) me",
        r"(hitting|beating|choking|abusing|strangling|punching|kicking|slapping|raping) me",
        rf"(afraid|scared|terrified|frightened) (of|to go home to|to be alone with) {_ABUSER}",
        r"(afraid|scared|fear|fearing) for my (life|safety)",
        r"threatened to (kill|hurt|harm|beat|hit|shoot|stab) me",
        rf"{_ABUSER} (will|would|is going to|said (he|she|they) would|says (he|she|they) will|"
        r"swore|threatens to|threatened to|going to) (\w+ ){0,2}(kill|hurt|beat|harm|shoot|"
        r"stab|poison|end) me",
        r"(kill|hurt|beat|harm) me if i (leave|tell|call|go|report)",
        r"domestic (violence|abuse)",
        r"abusive (husband|wife|partner|boyfriend|girlfriend|relationship|son|daughter|home|"
        r"father|mother|dad|mom|ex)",
        rf"(not|do not feel|never feel|never) safe (at home|in my (own )?home|in this house|"
        rf"with {_ABUSER}|around {_ABUSER})",
        r"unsafe (at home|in my (own )?home)",
        r"(will not|does not|never) let me (leave|go out|see|call|talk to|have|use|drive)",
        r"(takes|took|controls|keeps|hides|hid) (my|all my) (phone|money|keys|car keys|"
        r"bank card|paycheck|passport|id)",
        r"(tracks|tracking|monitors|reads) (my|all my) (phone|location|texts|messages)",
        r"(gun|knife|rifle|pistol) (to|at) my (head|throat|chest|face)",
        domestic_violence=True,
    ),
    *_rules(
        C.IMMEDIATE_DANGER,
        HIGH,
        rf"(took|swallowed|downed|taken|ate|drank) (a |the )?(whole|entire|all|every|bunch|"
        rf"handful|lot|fistful|ton)( of)? (the |his |her |my |their |those |these )?{_MEANS}",
        rf"(took|swallowed|taken) (all|too many) (of )?(the |his |her |my )?{_MEANS}",
        rf"{_WEAPON} (to|at|against) (his|her|their) (head|throat|chest|wrist)",
        # Not a route taken every day: "I'm on the bridge twice a day now" (to her care home).
        r"(standing|sitting|i am) on (the|a) (bridge|ledge|roof|edge|tracks|railing)"
        r"(?! (\w+ ){0,2}(twice|every|each|daily|a day|to work|on my way|commute|commuting)\b)",
        r"(is|are|he is|she is|not|was) (not )?(breathing|responding|waking up) (and|after)",
        r"(he|she|mom|dad|they) (is|are) not breathing",
        r"(attempted|tried) (to )?(kill|end|hurt|take) (himself|herself|themselves|themself|"
        r"his life|her life|their life|his own life|her own life)",
        r"(attempted|attempting) suicide",
        r"left a (note|goodbye note|letter) and (his |her |their )?(car|phone|keys)",
        r"(is|are) (missing|gone) and (said|texted|left)( a)? goodbye",
        r"(in|on) (my|his|her) way to (the bridge|do it|end it)",
    ),
    *_rules(
        C.CONCERN_FOR_OTHER,
        MEDIUM,
        r"(kill|killing|hurt|hurting|harm|harming) (himself|herself|themselves|themself)",
        r"(end|ending|take|taking) (his|her|their) (own )?life",
        r"(he|she|they) (is|are|seems|sounds) suicidal",
        r"help (him|her|them) (to )?(die|end (it|his life|her life))",
        r"(asked|begged|begs|asks|asking|begging) me to (help (him|her|them) )?(die|end it|"
        r"let (him|her|them) die)",
        r"(wishes|wished|wish) (he|she|they) (was|were) (dead|gone|never born)",
        r"(he|she|they) (wants|want|wanted) to (die|be dead|not wake up|end it)",
        r"(talks|talking|talked|keeps talking) about (suicide|killing (himself|herself)|"
        r"wanting to die|not wanting to live)",
    ),
    *_rules(
        C.BURDENSOMENESS,
        HIGH,
        r"(better|happier|easier|lighter|fine) (off )?without me",
        r"(nobody|no one) (would|will|is going to|even) (miss|notice|care)( me| if i)",
        r"(easier|better) (for (everyone|everybody|them|my family|my kids) )?if i (was|were|am|"
        r"was not|were not|just) (gone|dead|not here|not around|disappeared|died)",
        r"(one less|one fewer) me",
        r"(worth more|worth) (dead|gone)",
        r"relieved if i (was|were|am) (gone|dead|not here|not around)",
        about_speaker=True,
    ),
    *_rules(
        C.BURDENSOMENESS,
        MEDIUM,
        r"i am (just |such |nothing but |only )?(a |such a |nothing but a )?(burden|drain|"
        r"waste of space|waste of air)",
        r"(feel|feeling|felt) (like )?(a |such a )?(burden|drain|waste of space)",
        r"(everyone|everybody) (would be|is) better off",
        r"i (ruin|ruined|wreck) everything",
        about_speaker=True,
    ),
    *_rules(
        C.HOPELESSNESS,
        MEDIUM,
        r"hopeless(ness)?",
        r"(no|lost|losing|lost all|out of) hope",
        r"no way out",
        r"(can not|could not) (go on|keep going|keep doing this|do this|do it|take (it|this)"
        r"(?! (back|off|out|away|home|apart|with|down|up)\b)|take any more|handle (it|this)|"
        rf"cope|carry on|breathe|survive this){_ANY_MORE}",
        r"(never|not ever|not) going to get better",
        r"(nothing|it|things) (will )?(never|not ever) (get|gets|going to get) better",
        r"(give|giving|given|gave) up on (everything|life|myself|it all)",
        r"(at|reached|hit) (my )?breaking point",
        r"i am (falling apart|breaking down|drowning|so empty|empty inside|dead inside|numb|"
        r"worthless|so lost)",
        r"(feel|feeling) (so )?(empty|numb|worthless|dead inside|trapped)",
        r"(so|all|completely|totally|utterly) alone",
        r"(nobody|no one) cares( about me)?",
        # Not a getaway: "wish I could disappear to a cabin for a weekend".
        r"(want|wish i could) (to )?(disappear|run away|vanish)(?! (to|into) (a|an|the|some|my)\b"
        r"| for (a|the|one) (weekend|week|day|night|few|couple|nap|vacation|holiday)\b)",
        r"(want|need) (it|this|everything) (all )?to stop",
        r"no future",
        r"(trapped|stuck) (forever|with no way out|for the rest of my life)",
        r"(what is|whats) the point( any more| of (anything|any of this|trying))?$",
        r"can not do this$",
        about_speaker=True,
    ),
    # Indirect and euphemistic phrasings (second pass over the train split's misses).
    *_rules(
        C.WISH_TO_BE_DEAD,
        HIGH,
        r"(would not|do not) mind (if i (died|did not wake up|never woke up)|dying|not waking up|"
        r"if (the|my) (plane|car|heart) (went down|crashed|stopped))",
        r"(welcome|welcomed) it if (i|my heart|something)",
        r"(death|dying|being dead|not being alive|not existing) (would be|sounds|seems|is starting "
        r"to sound) (like )?(a |such a )?(relief|vacation|peaceful|nice|easier|better|good|rest)",
        r"(pray|praying|prayed|ask|asking|asked) (\w+ ){0,3}(god|the lord|jesus) (\w+ ){0,2}"
        r"(takes|take|to take) me",
        r"(god|lord|jesus) (please )?(just )?take me",
        r"not (to )?let me wake up",
        r"(hope|hoping|wish) (that )?i (do not|never) make it",
        r"(hope|hoping|wish) (that )?(a|the|some) (truck|car|bus|drunk driver|plane|train) "
        r"(\w+ ){0,6}(takes me out|hits me|kills me|crashes)",
        r"(jealous|envy|envious) of (the dead|people who (die|died|are dead)|(the )?people in "
        r"(the )?(cemetery|graves)|(her|him|them) (because|cause) (she|he|they) (gets|get) to "
        r"(die|go|leave))",
        r"wish i could go with (her|him|them)",
        r"(fine|ok|okay|happy) (with|if) (not being (here|alive|around)|tomorrow never came|"
        r"i never woke up|i did not wake up|it all ended)",
        r"(if|when) tomorrow never (came|comes) for me",
        r"(disappointed|sad|angry) (that )?i am still (here|alive|breathing)",
        r"to (just )?not be (alive|here|around) (any more|anymore)?",
        r"(not|never) want to (be|exist) any more",
        about_speaker=True,
    ),
    *_rules(
        C.IDEATION,
        HIGH,
        r"(think|thinking|thought|thoughts|idea|considering|contemplating) (about |of )?(just )?"
        r"(ending|end) (it|things|everything|my life|it all)",
        r"(rather|should|could|might as well|going to) (just )?end (it|things|everything|my life)",
        r"^(just )?end it( all)?$",
        r"(keeps|keep|kept) (saying|telling me) (to )?(just )?end it",
        r"suicide (\w+ ){0,3}(popping|crossing my mind|on my mind|in my head|sounds|seems|"
        r"appeals|tempting|does not sound)",
        r"want (to|2) die",
        about_speaker=True,
    ),
    *_rules(
        C.METHOD_OR_MEANS,
        HIGH,
        r"(what is|whats|how much is|how many is) (a |the )?(lethal|fatal|deadly) (dose|amount)",
        r"how (much|many) (\w+ ){0,5}(would|will|does it take to|to) (kill|be fatal|be lethal|"
        r"end it|do it|be enough)",
        r"how (much|many) (\w+ ){0,6}would it take",
        r"what (happens|would happen) if (you|i|someone|a person) (take|takes|took|swallow|"
        r"swallows|mix|mixes|drink|drinks) ([1-9][0-9]+|all|a whole|the whole|a bottle|an "
        r"entire|every)",
        rf"die (from|of) (mixing|taking|too many|an overdose|(his|her|my|the) {_MEANS})",
        rf"(counted|saved|have|got|collected|stockpiled) (out )?enough (of )?(his |her |my |the )?"
        rf"(\w+ )?{_MEANS}(?! for (the|a|his|her|this|next) (week|month|trip|weekend))",
        rf"{_MEANS} (\w+ ){{0,2}}(be |is |are )?enough$",
        r"(staring|stare|stared|looking|look|looked|stood|standing|stand) (\w+ ){0,2}(at|over|"
        r"down from|on) (the |a |his |her |that )?(bridge|rope|gun|rifle|pistol|knives|balcony|"
        r"tracks|ledge|railing|overpass)",
        rf"({_WEAPON}|{_MEANS}|bridge|tracks|overpass|balcony).{{0,80}}\b(on my mind|"
        r"calling (me|to me)|been calling|keep thinking about (it|them|using)|can not stop "
        r"thinking about (it|them|drinking|taking|using)|in a way i should not)",
        rf"(i could|could just|i might|i can) (use|take|swallow|drink) (mom s|dad s|his|her|their|"
        rf"my|the|grandma s|grandpa s) (\w+ )?({_MEANS}|{_WEAPON})",
        r"(car|engine) running in the (closed )?garage|closed garage (door )?and the car|"
        r"the car and the (closed )?garage",
        r"(thinking about|think about|want to|could|tempted to|going to) (drinking|taking|"
        r"swallowing|downing|drink|take|swallow|down) (all|every one|the whole bottle|the whole "
        r"box|the rest) of (it|them|her|his|my)",
        about_speaker=True,
    ),
    *_rules(
        C.INTENT,
        HIGH,
        r"^(i am )?done (goodbye|bye)$",
        r"(bye|goodbye) thanks for (trying|everything)|"
        r"thanks for (trying|everything) (bye|goodbye)",
        r"(will not|not going to|am not going to) be (here|alive|around) (tomorrow|tonight|by|"
        r"after|for christmas|much longer|next)",
        r"(tonight|tomorrow|today) (is |s )?the (night|day) (\w+ ){0,3}(end|do it|go|die|"
        r"finally)",
        r"(last|final) time (you|anyone|any of you) (will )?(hear|hears) from me",
        r"tell (my|the) (kids|children|family|husband|wife|son|daughter|mom|dad) (i|that i) "
        r"(love|am sorry)",
        r"(not|never) (doing|making it (through|to)|going through|surviving|spending) another "
        r"(christmas|birthday|year|winter|holiday|thanksgiving)",
        r"ending it (before|after|by|on|this|tonight|tomorrow|soon)",
        about_speaker=True,
    ),
    *_rules(
        C.PLAN,
        HIGH,
        r"(know|figured out|worked (it )?out|decided|decided on|picked|chosen|chose) (exactly )?"
        r"(how and when|when and how|which (overpass|bridge|building|cliff|pills))",
        r"and (not|never) (come|coming) back",
        r"(walk|walking|swim|swimming|wade|wading) (out )?into (the )?(ocean|sea|lake|river|"
        r"water|traffic)",
        r"(everything|all) (i have |that i have )?(saved|stockpiled|collected|been saving)",
        r"(rope|noose) (\w+ ){0,3}(beam|rafter|rafters|tree|closet|banister)",
        rf"(going to|will) (take|use|swallow) (the |his |her |my |all the |all of the |dad s |"
        rf"mom s )?({_MEANS}|{_WEAPON})( \w+)? (tonight|tomorrow|today|after|when|while|this "
        rf"weekend|all of them)",
        rf"do it with (his|her|my|the|dad s|mom s) ({_MEANS}|{_WEAPON})",
        about_speaker=True,
    ),
    *_rules(
        C.PREPARATORY_ACTS,
        HIGH,
        r"(gave|given|giving|give) (away )?my (dog|cat|pets|bird|birds|puppy|kitten) (to|away)",
        r"(found|finding) (the|my) (cat|dog|pets|bird) a new home",
        r"rehom\w* my (dog|cat|pets|bird)",
        r"cancel\w* (all )?my (\w+ ){0,3}(will not|wont|do not) need (them|it)",
        # Someone else's passwords ("her passwords and accounts") are the care recipient's estate.
        r"(?<!\bher )(?<!\bhis )(?<!\btheir )(my )?passwords (and|&) (bank|account|accounts)",
        r"(planned|planning|plan|picked) my (own )?funeral",
        r"(closed|closing) (all )?my (bank )?accounts",
        r"goodbye (messages|letters|notes|texts|videos|emails)",
        r"(left|wrote|writing|leaving|written) (a )?(letter|letters|note|notes) (for|to) (my|each "
        r"of my) (son|daughter|kids|children|husband|wife|family|sister|brother)",
        r"(wrote|written|left) (a |the )?note (\w+ ){0,3}(kitchen|table|counter|nightstand|for "
        r"(them|everyone|whoever))",
        r"\bi (just |finally )?(bought|purchased) (a |myself a )?(gun|pistol|handgun)"
        r"(?! safe| lock| cabinet| case)",
        r"^(just )?(bought|purchased) (a )?(gun|pistol|handgun)(?! safe| lock| cabinet| case)",
        r"(life insurance|policy) (\w+ ){0,12}suicide|suicide (clause|exclusion)",
        about_speaker=True,
    ),
    *_rules(
        C.SELF_HARM,
        HIGH,
        r"(hit|hitting|banged|banging|bang|slammed|slamming|slam|punched|punching) my (head|hand|"
        r"fist|arm|hands|fists) (\w+ ){0,2}(against|into|on|in) (the )?(wall|door|mirror|table)",
        r"on purpose\b.{0,40}\b(hurt|pain|feel|bleed|bled)",
        r"(burned|burnt|cut|hit|punched|slammed|scratched|bit|bruised) (\w+ ){0,6}on purpose",
        r"(fresh|new|deep|deeper) cuts|the cuts on my|cuts on my (arms|legs|wrists|thighs)",
        r"(been|started|keep|kept) cutting|cutting (is|helps|again)|(came|went) (home )?and cut\b",
        r"\bsh (again|is|urges|relapse)",
        rf"(skip|skipping|skipped|stopped taking|not taking) my (own )?(\w+ )?{_MEANS} on purpose",
        r"(skip|skipping|skipped|stopped taking|not taking) my (own )?(insulin|meds|medication|"
        r"heart pills|blood pressure pills)",
        r"(dug|digging|dig) my nails into|(biting|bite|bit) my (arm|hand|wrist|lip) (until|til|"
        r"till)|(until|til|till) it (bled|bleeds|bruises|bruised)",
        r"self harmed",
        about_speaker=True,
    ),
    *_rules(
        C.HARM_TO_OTHERS,
        HIGH,
        r"pillow (in my hands|over (his|her|their))",
        r"(stood|standing|stand) over (him|her|them|his bed|her bed) with",
        r"close to (shaking|hitting|hurting|slapping|smothering|choking|strangling|pushing)",
    ),
    *_rules(
        C.DOMESTIC_VIOLENCE,
        HIGH,
        r"i am not allowed to (leave|go|see|have|talk|call|use|drive|eat|sleep)",
        rf"{_ABUSER} (\w+ ){{0,4}}(would|will|is going to|threatened to|threatens to) (\w+ ){{0,2}}"
        r"(poison|hurt|kill|beat|shoot|stab) (me|my|the (dog|cat|kids))",
        rf"{_WEAPON} and (will not|wont|refuses to|does not want to) (put|give|hand)",
        domestic_violence=True,
    ),
    *_rules(
        C.BURDENSOMENESS,
        HIGH,
        r"(easier|better|happier|relieved|lighter|freer) (\w+ ){0,4}if i (was |were |am |just |"
        r"would )?(gone|dead|died|disappeared|not here|not around|not alive|was not (here|around|"
        r"alive)|were not (here|around|alive))",
        about_speaker=True,
    ),
    *_rules(
        C.BURDENSOMENESS,
        MEDIUM,
        r"i am (\w+ ){0,2}(useless|dead weight|a waste|only a problem|just a problem)",
        r"dead weight",
        r"(only|just) (a )?problem for (people|everyone)",
        r"cause (\w+ )?problems for everyone",
        r"(that is|thats) all i am",
        about_speaker=True,
    ),
    *_rules(
        C.HOPELESSNESS,
        MEDIUM,
        r"nothing (is |will )?(ever )?(going to )?(get|gets|change|changes|improve|improves|help|"
        r"helps|work|works|matter|matters)( better)?$",
        r"nothing (i do )?matters",
        r"no light at the end",
        r"nothing (left )?(of me )?left|nothing left (to give|for me|to hope for|in me)",
        r"how (much )?longer i can (keep going|keep doing this|do this|go on|take)",
        r"(nightmare|hell) (\w+ ){0,3}never (going to )?end",
        r"lost myself( completely)?",
        r"i am (so )?broken",
        r"(prison|trapped|stuck) .{0,40}(forever|no exit|never getting out|no way out|can not get "
        r"(free|out))",
        r"no exit",
        r"(i am|i feel|feel) out of (options|hope)|out of options and",
        r"(can not|do not) see (a |any )?(way (forward|out)|future|point|light|way this (improves|"
        r"gets better))",
        r"i am (so )?over (everything|it all|life)|so over (everything|it all|life)",
        r"(i )?(just )?can not any more",
        r"what is (even )?left for me",
        r"my (own )?life (stopped|is over|ended)",
        r"(stopped|stop|quit) believing",
        r"no point (in |making |trying|doing)",
        r"breaking point",
        about_speaker=True,
    ),
    *_rules(
        C.CONCERN_FOR_OTHER,
        MEDIUM,
        r"(bringing up|brings up|talks about|talking about|mentions|mentioning|keeps saying) "
        r"(\w+ ){0,2}(suicide|killing (himself|herself|themselves)|wanting to die|ending (his|her) "
        r"life|not wanting to live)",
    ),
    # Third pass: general constructions behind the long tail of the train split's misses.
    *_rules(
        C.METHOD_OR_MEANS,
        HIGH,
        # A question about a medication that asks about death, not dosing.
        rf"(how (much|many)|what (dose|amount|happens)|(is|would|will) \w+ ?\w* ?{_MEANS}|"
        rf"(can|could|does|do) (you|u|i|someone|a person) (die|od|overdose)|is it (painful|"
        rf"peaceful))\b.{{0,80}}\b{_LETHAL}\b",
        rf"{_MEANS}\b.{{0,60}}\b(would|will|could|enough to|to) (kill|stop a heart|stop my heart|"
        rf"do it|end it)",
        # Means named with the speaker as the one they are for.
        rf"({_MEANS}|{_WEAPON}|{_PLACE})\b.{{0,100}}\b((for me|for myself) not (him|her|them|"
        rf"mom|dad)|on myself|asking for (me|myself)|the friend is me|someone being me|me i mean|"
        rf"not for "
        rf"(protection|her|him|them|mom|dad)|keep thinking about|can not stop (looking|thinking)|"
        rf"i have (been )?noticed|i notice|on my mind|when i need it|ways to)",
        rf"on myself\b.{{0,40}}\b({_MEANS}|{_WEAPON})",
        rf"(keep|kept|keeps) (thinking|looking|eyeing|staring|counting) (\w+ ){{0,4}}({_MEANS}|"
        rf"{_WEAPON}|{_PLACE}|them|it)",
        rf"(googling|looked up|looking up|searched|researching) (\w+ ){{0,5}}({_MEANS}|{_PLACE}|"
        rf"lethal|fatal|overdose|dose)",
        r"(closed|shut) garage (\w+ ){0,4}(car|engine)|garage (\w+ ){0,4}(car|engine) (running|"
        r"on)|(car|engine) (running|on) (\w+ ){0,4}garage",
        r"(list|lists) (in my head )?of ways",
        about_speaker=True,
    ),
    *_rules(
        C.INTENT,
        HIGH,
        r"\bi am (ending (it|things|my life|everything)|finishing (it|myself)|checking out|"
        r"leaving (this world|for good)|taking myself out(?! (of|for|to)\b)|following (him|her|"
        r"them))\b"
        r".{0,40}\b(tonight|tomorrow|this weekend|permanently|for good|soon|"
        r"after|before|once|then|this week|decided|final)",
        r"(taking|take|took) myself out(?! (of|for|to)\b)|finish(ing)? myself|by my own hand",
        r"(will|would|going to) be dead (by|before|after|tomorrow|tonight|soon)",
        r"(going|gonna|go) (to )?(sleep forever|be with (jesus|god|the lord|my (wife|husband|mom|"
        r"dad|son|daughter|mother|father)))",
        r"(will not|not going to|am not going to|won t) be (alive|here|around) (to|for|when|"
        r"after)",
        r"(you|anyone|nobody|no one) (will not|won t|will never|is not going to) hear from me "
        r"(again|after)",
        r"last day on earth",
        r"(goodbye|bye) and thanks|this is (me saying )?goodbye",
        r"(mean|meant|intend|intending|planning|plan|going|decided) to die",
        r"(not|never) (going to )?(see|make it to) (40|50|60|\d+|my (next )?birthday|christmas|"
        r"the new year|next year)",
        r"(decision is made|made my decision|decided|decision s made)\b.{0,60}\b(end|ending|die|"
        r"not be here|will not be here|not waking|gone|over)",
        r"(what|whatever) i am about to do",
        r"(ending|end) (it|things) (this|tonight|once|when|after|before)",
        about_speaker=True,
    ),
    *_rules(
        C.IMMEDIATE_DANGER,
        HIGH,
        rf"(has|holding|waving|got|with) (his|her|their|a|the) {_WEAPON} (out|to|around|at|and)",
        r"(tried|trying|try) to (hang|shoot|drown|cut|poison|strangle) (himself|herself|"
        r"themselves|myself)",
        r"\b(he|she|i|mom|dad|brother|sister|son|daughter|husband|wife) (just )?(overdosed|"
        r"is overdosing)\b",
        rf"(already )?(took|taken|swallowed|drank|put on) (all|a lot|too many|a bunch|a handful|"
        rf"the whole|every)( of)? (\w+ ){{0,2}}{_MEANS}",
        rf"(already )?(took|taken|swallowed|drank) (all of |a lot of |too many of )?(mom s |dad s "
        rf"|his |her |my )?{_MEANS}\b.{{0,40}}\b(bye|goodbye|hung up|not answering|on purpose|"
        rf"what happens|idk what)",
        r"(goodbye|suicide) (text|note|message|letter)\b.{0,60}\b(not answering|is not "
        r"answering|nobody knows|missing|gone|phone is off)",
        r"(drank|drinking|swallowed) (the )?(bleach|antifreeze|drain cleaner)",
        r"(cut|cuts) too deep|bleeding (will not|won t|is not) stop|(it is|its) not stopping",
        rf"(got|gotten|getting) into (his|her|the|grandpa s|grandma s|my) {_MEANS}",
        r"(sitting|sat) in the (car|garage) with the (car|engine) (running|on)",
    ),
    # Fourth pass: preparation, harm to and from others, as the train split phrases them.
    *_rules(
        C.PREPARATORY_ACTS,
        HIGH,
        r"(for|after|when|once|before) i am (gone|not here|not around|dead)\b",
        r"(after|when|once|if) i die\b",
        r"in case i am not (around|here)",
        r"where i am going",
        r"(will not|won t|never) see me again",
        r"(giving|gave|give|given) away (all )?(of )?my (?!(late|deceased)\b)\w+",
        r"(rehomed|rehoming|rehome|found homes for|found a home for|dropped off) (my|the) "
        r"(\w+ ){0,2}(cats|dogs|pets|bunny|rabbit|chickens|goat|dog|cat|bird|birds)",
        # Not one written for someone else: "my eulogy for dad".
        r"\bmy (own )?(obituary|cremation|burial|funeral|casket|headstone|eulogy)"
        r"(?! (for|of|about) (my|mom|dad|him|her|them|grandma|grandpa)\b)",
        r"(want|wish) to be (buried|cremated) in",
        r"(changed|updated|signed|switched) (my )?(life insurance|beneficiary)(?!.{0,40}\b(divorce|"
        r"divorced|marriage|married|wedding|remarried|baby|born|new job)\b)",
        r"(drafting|writing|wrote|written|finished) (my|the|a) (goodbye|note|suicide note)",
        r"(last|final) loose end|tying up (the )?ends|tie up (all )?(my )?loose ends before",
        r"\bi (\w+ ){0,3}(said|saying|say) goodbye to (people|everyone|everybody|every room|the "
        r"house|them all|all of them)",
        r"(?<!\bdone )for after\b(?! (he|she|they|mom|dad|my \w+) (is|are|dies|die|passes|goes)\b)",
        rf"(saved|saving|collecting|collected|stashing|hoarding) (\w+ ){{0,4}}"
        rf"({_MEANS}|zolpidem)",
        about_speaker=True,
    ),
    *_rules(
        C.HARM_TO_OTHERS,
        HIGH,
        r"(thought|thoughts|thinking|imagining|imagine|urge|urges|flash|fantasi\w+) (\w+ ){0,4}"
        r"(smother\w*|push\w* (him|her|dad|mom)|hurt\w* (him|her)|hitting (him|her)|giving (him|"
        r"her|dad|mom) all|doubling (his|her) \w+|not giving (him|her)|letting (him|her|it) "
        r"(happen|fall|die|drown)|holding the pillow|the pillow)",
        r"(scared|afraid|terrified) (of )?what i (will|might|would|could) do|"
        r"afraid i will do worse",
        r"\bi (\w+ ){0,2}(slapped|shook|shoved|pushed) (my (mom|dad|mother|father|husband|wife|"
        r"grandma|grandpa)|him|her)\b",
        r"(not|never|without) (calling|call) 911 (next time|when|if)",
    ),
    *_rules(
        C.DOMESTIC_VIOLENCE,
        HIGH,
        r"(threw|throws|throwing) (a |the |hot |her |his )?\w+ at me",
        r"(hands|hand) around my (neck|throat)",
        r"\b(?!(it|this|that|reality|grief|sadness|what|nostalgia|memories|everything) )\w+ "
        r"(shoves|shoved|hits|punches|punched|slaps|slapped|chokes|choked|kicks|kicked|"
        r"strangles|strangled) me\b",
        r"bruises (\w+ ){0,4}from (my|his|her|him)",
        r"threaten\w* (me|to (kill|hurt|take|burn))",
        r"forced (himself|herself) on me",
        r"(scared|afraid|terrified) to go (back )?home",
        r"(i am|i have been) hiding in the (bathroom|closet|car|bedroom|basement)|locked myself "
        r"in the (bathroom|closet|car|bedroom|basement)",
        r"controls (all )?(the |my )?(money|finances|phone|meds|medication)",
        r"(checks|reads|goes through|went through) my phone",
        r"(smashed|broke|took|takes|hid) my phone so i",
        r"(he|she|they) (\w+ ){0,4}(drinking|screaming|yelling|banging|louder|raging)\b.{0,60}"
        r"\b(scared|afraid|terrified|hiding)",
        r"(make me regret|i will pay(?! (for|back|you|them|her|him|the|it|what|\w+ (for|back))\b)|"
        r"make me pay|you will pay)",
        r"with me (in it|inside)",
        r"if i (ever )?(leave (him|her)|leave$|tell anyone|call (the police|the cops|anyone|911)|"
        r"go to the police)",
        domestic_violence=True,
    ),
    *_rules(
        C.HARM_FROM_OTHERS,
        HIGH,
        r"(followed|attacked|mugged|assaulted|stalking|stalks|grabbed) me\b",
        r"knows where i live",
        r"pulled a (gun|knife) on me",
    ),
    # Fifth pass: passive death wishes, burdensomeness and reports about others.
    *_rules(
        C.WISH_TO_BE_DEAD,
        HIGH,
        r"(would not|would it|it would not|it is not) (really )?be (the worst thing|so bad|that "
        r"bad) if i",
        r"(would not|will not) (fight it|be upset|mind) if (something|the|my|this|it|i)",
        r"(wish|wished|hoping|hope) (that )?(it|that) (was|were) me\b",
        r"(hope|hoping|pray|praying|wish|wishing) (\w+ ){0,5}(takes me|take me|does me in|gets me|"
        r"got me|gotten me|kills me|killed me|the real thing|too late|do not catch it|turns out "
        r"to be everywhere|would not stop)",
        r"(lord|god|jesus)\b.{0,40}\b(call|take|bring) me home|(call|take|bring) me home\b.{0,20}"
        r"\b(lord|god|jesus)",
        r"(jealous|envious|envy|swap places|trade places)\b.{0,60}\b(dead|died|passed|coffin|"
        r"casket|box|grave|buried|burying|funeral)",
        r"(damn|ugh|unfortunately|sadly|disappointed)\b.{0,20}\bstill (alive|here|breathing)",
        r"(stop|cease|ceasing|stopped) (being alive|existing|to exist)|not existing (would|"
        r"sounds|is)|be not existing",
        r"(want|wish|need) my life to (be over|end)",
        r"(nice|good|peaceful|a relief|a mercy|better|the dream) (to be|being) dead",
        r"(ok|okay|fine|at peace) (with )?(dying|being dead)",
        r"(look|looking) forward to (dying|death|being dead)|not scared of dying any more",
        r"(hope|hoping) i go (first|before|soon)",
        r"(lie|lay|lying) down in the (plot|grave|ground)",
        r"(want|wish|like|want) to be gone|to just be gone|i would (just )?fade (out|away)",
        r"(wished|wish|wishing) (for )?(\w+ ){0,4}(my )?last (one|birthday|christmas)",
        r"(do not|does not) (really )?care if i (die|live|wake up)",
        r"dead people (do not|never) have to",
        r"(pray|prays|praying|prayed) to die",
        r"ya no quiero (vivir|estar viva|estar vivo)|ojala me muriera|quiero (morir|morirme)|"
        r"(ya )?no despertar|(pienso|pensando) en (matarme|suicidarme|morir)",
        about_speaker=True,
    ),
    *_rules(
        C.IDEATION,
        HIGH,
        r"(take|taking|took) myself out of the picture",
        r"checking out\b.{0,20}\b(permanently|for good)|(ending|end) my (own )?story",
        r"the s word",
        r"(pitching|offering|suggesting) suicide|suicide (\w+ ){0,3}(like )?(it is |its )?a "
        r"(solution|option|answer|way out)",
        about_speaker=True,
    ),
    *_rules(
        C.BURDENSOMENESS,
        HIGH,
        r"(if|when) i (died|was gone|were gone|was not here|were not here|disappeared)\b.{0,40}\b"
        r"(free|better|easier|relieved|would not have to|happier|finally)",
        r"(would not|does not|doesn t|wouldnt) matter if i (disappeared|died|was gone|was not "
        r"here)",
        r"(better|happier|easier) (\w+ ){1,5}without me",
        about_speaker=True,
    ),
    *_rules(
        C.BURDENSOMENESS,
        MEDIUM,
        r"(burden|burdens|burdening) (everyone|everybody|my family|them|you all)",
        r"(weight|anchor) around (everyone s|their|my family s|everybody s) neck",
        r"one more (thing|patient|problem|mouth) for (them|my \w+|everyone) to (deal with|take "
        r"care of)|one more patient for them|being so much trouble",
        about_speaker=True,
    ),
    *_rules(
        C.CONCERN_FOR_OTHER,
        MEDIUM,
        r"(shoot|shooting|hang|hanging|drown|poison|off|offing) (himself|herself|themselves)",
        r"(wishes|wished) (\w+ ){0,4}(had )?killed (him|her|them)|(wishes|wished) (he|she|they) "
        r"(had not|never) survived",
        r"(he|she|they) (\w+ ){0,3}(does not|doesn t|do not) want to (live|be alive|be here)",
        r"(posting|posts|posted|writing|jokes|joking|joked) (\w+ ){0,3}about (not wanting to "
        r"(live|be alive)|wanting to die|killing (himself|herself)|offing (himself|herself))",
        r"stop taking (his|her) (\w+ )?(pills|meds|medication|insulin) so (he|she) (can|could|"
        r"will) die",
    ),
    # Sixth pass: acts in progress and plans with their means, as the train split tells them.
    *_rules(
        C.IMMEDIATE_DANGER,
        HIGH,
        rf"(took|swallowed|taken|drank|chewed|shot up|ate) (all |the rest of |everything|"
        rf"[1-9][0-9]* |a handful of |the whole |her whole |his whole |my whole )(\w+ ){{0,3}}"
        rf"({_MEANS}|in there|she had|he had|i had|pens of insulin|pack|organizer)",
        rf"(already|just) (taken|took|swallowed|drank) (the |all the |my |his |her )?(\w+ )?"
        rf"{_MEANS}",
        rf"(took|swallowed|taken) (the |all the |all my )?{_MEANS} [0-9]+ (min|mins|minutes|hour|"
        rf"hours) ago|(min|mins|minutes|hour|hours) ago i (took|swallowed|used)",
        r"(stabbed|shot|hanged|hung|cut|strangled) (himself|herself|myself|themselves)",
        r"(belt|rope|cord|bag|plastic bag|noose) (around|over) (his|her|my|their) (neck|head)",
        r"(on|at) the (roof|ledge|tracks|edge|railroad|railway crossing) (and|of)\b",
        r"(on|at) the bridge\b.{0,60}\b(goodbye|sorry|jump|will not come|end it|picture)",
        r"\b(i|he|she|they|mom|dad) (just )?(walked|waded|is walking|is wading) (out )?into the "
        r"(lake|ocean|river|water|sea|bay)",
        r"(engine|truck|car) running\b.{0,40}\b(sealed|door down|garage)|(door down|sealed up|"
        r"garage)\b.{0,40}\b(engine|truck|car) running",
        rf"({_WEAPON})\b.{{0,60}}\b(not coming back|he is done|she is done|i am done|said goodbye|"
        rf"wanted to say it|end it)",
        r"(i am|he is|she is|i will be) not coming back|not driving back",
        r"(me quito la vida|quitarme la vida|me voy a matar|tomo todas las pastillas)",
    ),
    *_rules(
        C.INTENT,
        HIGH,
        r"(going|gonna|want|planning|about) to kill (tonight|tomorrow|today|soon)|going to kill$",
        r"done (living|being alive)",
        about_speaker=True,
    ),
    *_rules(
        C.PLAN,
        HIGH,
        rf"\bi (have|got|have got) (the|his|her|my|dad s|mom s) ({_MEANS}|{_WEAPON})( ready| set "
        rf"aside| saved| picked out)",
        rf"\bi (have|got|have got) the ({_WEAPON}|blades)$",
        about_speaker=True,
    ),
    # Seventh pass: coercive control and violence at home; harm a caregiver fears doing.
    *_rules(
        C.DOMESTIC_VIOLENCE,
        HIGH,
        r"(grabs|grabbed|grabbing|held|holds|holding) (me )?(by )?(the |my )?(neck|throat)|held me "
        r"down|(drags|dragged|dragging) me|pins me (down|against)",
        r"broke (two of |both of )?my (ribs|rib|wrist|arm|hand|fingers|nose|jaw)|(break|breaks) my "
        r"(hand|arm|wrist|fingers|neck)",
        r"\bi (have|got) a black eye",
        r"(takes|took|taking) it out on me",
        r"(gun|knife)\b.{0,50}\b(reminds me|when we argue|threaten)",
        r"(blocks|blocked|blocking) the door|stands over my bed|tracker on my (car|phone)|"
        r"(he|she) put a lock on|listens to my calls|reads every text|call immigration on me|"
        r"walk on eggshells|"
        r"punching (walls|the wall|holes)",
        r"never see (them|the kids|my kids) (again )?if",
        r"make me (sorry|suffer)",
        r"(scared|afraid|terrified) of what (he|she|they) (will|ll|might|would) do",
        r"(putting|put|puts) something in my (food|drink|coffee|tea)",
        r"me amenaza|me pega|tengo miedo de (el|ella|mi esposo|mi marido)",
        domestic_violence=True,
    ),
    *_rules(
        C.HARM_TO_OTHERS,
        HIGH,
        r"(think|thinking|thought|thoughts) (about|of) (giving (him|her|them|mom|dad) all|turning "
        r"off (his|her) (oxygen|machine|pump|feeding)|letting (him|her) fall|hurting (the|my|him|"
        r"her) ?\w*)",
        rf"\bi (\w+ ){{0,2}}(pinched|dragged|locked) (her|him|mom|dad|my {_KIN})",
        r"as (a )?punishment",
        r"(make|made) (him|her|them) stop breathing",
        r"(swear|swore) i (will|ll|am going to) (hurt|kill|hit) (her|him|them)",
        r"put (him|her) in the ground",
        r"(scared|afraid|worried|terrified) (that )?i (am going to|will|might|ll) (snap and )?"
        r"(hurt|hit|harm|shake|kill) (mom|dad|him|her|them|my \w+)",
    ),
    # Eighth pass: means, plans and preparation told as logistics and rumination; hedged and
    # passive death wishes; acts in progress, self-harm and harm to others, as the sixth round
    # phrases them.
    *_rules(
        C.METHOD_OR_MEANS,
        HIGH,
        # A means or a high place, then the mind going back to it.
        rf"({_MEANS}|{_WEAPON}|{_PLACE}|{_MEANS_MORE})\b.{{0,100}}\b{_RUMINATION}",
        # The mind going to a way of dying.
        r"(i think|i thought|thinking|picture|picturing|imagine|imagining|the pull) (about |of |"
        r"to )?(\w+ ){0,4}(going over the|going off the|driving into the|driving off the|jumping "
        r"off|climbing (out of (it|the window)|over (the )?(rail|railing|edge|side))|stepping "
        r"(out )?in front|walking out in front|not stopping for|turning the wheel|turn the wheel|"
        r"the drop\b(?! off)|go over the (side|edge))",
        # Questions of height, depth and time that ask about dying, not care.
        r"how (high|tall|deep|many feet|many floors|many stories) (\w+ ){0,6}(bridge|building|"
        r"parking|deck|garage|balcony|roof|window|cliff|fall|drop|floor)\b.{0,40}\b(to "
        r"(actually )?(work|do it|kill|be fatal)|would it take|survive)",
        r"how long (would|does|will) it take to (die|go|bleed out) if",
        r"(exhaust|carbon monoxide|fumes|engine|fall|drop)\b.{0,50}\b(still|actually) (do it|work|"
        r"kill)",
        r"(make|would make) me bleed out|bleed out (faster|quicker)",
        r"(lethal|fatal|deadly|overdose)\b.{0,50}\bfor (me|myself|someone my (size|weight))\b",
        about_speaker=True,
    ),
    *_rules(
        C.PLAN,
        HIGH,
        # A weapon the speaker will use.
        rf"\bi (am |will |would )?(going to )?(use|using) (\w+ ){{0,2}}{_GUN}\b(?! (safe|lock|case|"
        r"cabinet|license|range|class|show|for (deer|hunting|target)|to (hunt|clean)))",
        # Then the means, as the next step of a schedule.
        rf"(then|after that|after this|step two is|next is|and then) (it is |its |is )?(the |his |"
        rf"her |dads |moms |my )?(\w+ )?({_GUN}|rope|cliffs|noose)$",
        rf"(then|after that|and then) (it is |its )?the ({_GUN}|rope)\b|"
        r"(then|after that) (it is|its) the (pills|bridge|overpass)$",
        rf"\bplan (is |s )?(simple |easy )?(the|dads|moms|his|her|my) (\w+ )?({_GUN}|bridge|"
        r"overpass|tracks|rope|cliffs)|\bplan is to (od|overdose)\b",
        # Going off a high place, or going and not coming back.
        r"(going|go|drive|driving|jump|jumping|walk|walking) off (?!(in|at|on|for|to|with|and)\b)"
        r"(the )?(top of (the )?(\w+ ){0,3}(garage|deck|building|roof|parking \w+)|(\w+ ){0,3}("
        r"lookout|overlook|edge|jetty|bridge|overpass|cliff|cliffs|bluff|ledge|rooftop|dam))",
        r"(go|going|drive|driving|went) over the (edge|railing|guardrail)\b(?! of (the|his|her|"
        r"my) bed)",
        r"\b(and|then|i will|i am|i) (\w+ )?(not|never|do not|will not) (come|coming|drive|"
        r"driving|swim|swimming|walk|walking) (back|down)( down| up| in| out)?\b(?! (down |up |in |"
        r"out )?(to|until|"
        r"till|til|before|for|"
        r"after|from|with|later|tomorrow|tonight|soon)\b)",
        rf"({_GUN}|bridge|overpass|tracks|rope|cliffs)\b.{{0,40}}\b(and )?(that is|thats) (it|the "
        r"end)( of it)?$",
        # The speaker taking the rest of a means, or all of it.
        rf"\bi (am |will |would )?(going to )?(take|taking|swallow|swallowing|inject|injecting) "
        rf"(whats left of|what is left of|the rest of|every|all of|whatever|whatevers) (the |his |"
        rf"her |dads |moms |my )?(\w+ )?({_MEANS}|bottle|in (the|her|his) (\w+ )?cabinet)\b"
        r"(?!.{0,30}\b(to the|back|drop|dispos|pharmacy|return|trip|along|with (me|us|food|water|"
        r"breakfast|"
        r"dinner|lunch|meals))\b)",
        rf"\bi (am |will )?(going to )?(take|taking|swallow|use|using) (\w+ ){{0,3}}{_MEANS},? "
        r"(all of (it|them)|every one)\b",
        rf"(to|at|up to) the (\w+ ){{0,2}}(bridge|woods|motel|lookout|cliffs|overlook) with (my|"
        rf"his|her|the|dads|moms) (\w+ )?({_MEANS}|{_WEAPON}|hose)",
        about_speaker=True,
    ),
    *_rules(
        C.WISH_TO_BE_DEAD,
        HIGH,
        # Death that happens to the speaker, told as acceptable or welcome.
        rf"{_DEATH_IF}\b.{{0,60}}\b{_ACCEPT}",
        rf"{_ACCEPT} (with (it|that) )?{_DEATH_IF}",
        r"(ok|okay|fine|at peace) with (not waking up|never waking up|a quick end|not being here|"
        r"it all ending|not existing)",
        r"(hope|hoping|hopes|pray|praying|prayed) (\w+ ){0,4}(i (do not|never) (make|wake)|not "
        r"to (wake|make it)|to be dead|i die|i go (first|before)(?! (in|to|at|for|on)\b)|i get hit|"
        r"for (a|the) (car "
        r"accident|wreck|crash|quiet exit|long version|natural causes|heart attack|aneurysm)|it is "
        r"(my side|the fast kind|not nothing)|its (my side|the fast kind)|(find|finding) "
        r"something fatal|my heart (gives|gave) out)",
        r"(trade|swap) places with (\w+ ){1,5}in a (heartbeat|second)|i would swap in a second",
        r"(a )?sleep (that )?you (do not|never) (come back|wake up) from",
        r"(lie|lay) down and (never|not) (get|wake) up",
        r"(god|lord|jesus|universe) (\w+ ){0,4}(end me|come get me|take me in my sleep)|"
        r"(switch|turn) me off like",
        r"(press|pressed) (it|the button)\b.{0,40}\bif there (was|were) a button|a button (to )?"
        r"(not exist|stop existing|end it)",
        r"(i|me) (want|wish|would rather|could) (\w+ ){0,2}(be|being|lie|lying) in the ground|"
        r"under a headstone|the one in the (casket|coffin)|carving my name|(coffin|casket)\b"
        r".{0,20}\bmine\b",
        r"could not care less (\w+ ){0,4}(whether|if) i (am |m )?(die|live|wake up|around|alive|"
        r"here|make it)",
        r"wish(ed)? i (had|would have) never (woken|woke) up",
        r"i am (just )?waiting to (not exist|die|stop existing)|waiting to not exist",
        r"(rather|sooner) (there )?(just )?(was not|wasnt|were not) a me|take being dead over",
        r"what if i (just )?(was not|wasnt|were not) (alive|here|around)|(thoughts|thought) (of|"
        r"about) (being dead|not being alive|not existing)|think about being dead",
        r"how nice it would be to (be dead|be in the ground|just stop|not wake up|die)",
        r"(pray|praying|prayed|asking) for (death|a quiet exit|god to (take|end) me)",
        r"(pray|praying|welcome|welcomed|welcoming) (that )?(i )?(go|going) (first|before)"
        r"(?! (in|to|at|for|on)\b)",
        about_speaker=True,
    ),
    *_rules(
        C.PREPARATORY_ACTS,
        HIGH,
        r"(whoever|the one who|the person who|the one that) (finds|will find|has to find) me",
        r"(he|she|they|everyone|everybody|my \w+) (will )?(understand|know why|see why) "
        r"(afterwards|afterward|after)$",
        r"there (is not|isnt|is no) (a )?(later|just in case)$",
        r"\bi (will not|wont|do not) (be )?(need|needing) (them|it|any of (it|them)|anywhere( to "
        r"live)?) (after|past) (this|that|the|next|friday|monday|tuesday|wednesday|thursday|"
        r"saturday|sunday|tonight|tomorrow)\b",
        r"(nobody|no one) (has|will have|should have|needs) to (\w+ ){0,5}after( me)?$",
        r"(and )?i (do not|dont) mean (a trip|on vacation|vacation|moving)",
        r"(pays|pay|paid|payout|pays out|covers)\b.{0,40}\b(no matter how|self inflicted)",
        r"(life insurance|policy)\b.{0,50}\b((2|two) year (mark|clause)|past the (2|two) year)",
        r"(only|last) thing (left )?(on the list |on my list )?is me$",
        r"for whoever (finds me|has to (deal|sort|clean) (\w+ ){0,3}after)",
        r"(thinks|think|thought) (i am|it is|its|i was) (\w+ ){0,3}(moving|decluttering|retiring|"
        r"joking|going on a trip|on a trip|for a week|taking leave)\b.{0,20}\b(i am not|it is not|"
        r"its not|it isnt|i am|not)\b",
        r"(not for|not) someday\b.{0,6}\bfor soon",
        about_speaker=True,
    ),
    *_rules(
        C.IMMEDIATE_DANGER,
        HIGH,
        r"garage\b.{0,30}\b(motor|engine|van|car|truck)s? (is )?running|(motor|engine|van|car|"
        r"truck)s? (is )?running\b.{0,30}\bgarage",
        r"(standing|sitting|i am|parked|up) (on|at) (the )?(\w+ ){0,2}(bridge|overpass|railing|"
        r"ledge|roof|platform|edge|quarry|cliffs|top deck)\b.{0,60}\b(outside the rail|looking "
        r"(over|down)|deciding|jump|goodbye|one handed)",
        rf"(locked|sitting|sat|found|hiding|alone|is|are|am) in the (bathtub|bathroom|garage|shed|"
        rf"closet|basement|room|car) with (the|a|his|her|my|dads|moms) (\w+ )?({_WEAPON}|belt|"
        r"razor blades)\b(?! (\w+ )?(cleaning|fixing|working|sharpening|hunting|shaving|trimming|"
        r"oiling|to (clean|fix|cut|shave|trim)))",
        rf"(({_WEAPON}|{_GUN}) (is )?(in|on) (my|his|her) (lap|knee)|(it is|its) on my (knee|lap))"
        r"(?!.{0,30}\b(clean|cleaning|oil|oiling|fix|fixing)\b)",
        rf"((swallowed|drank|injected|took|ate) (like |about )?(what was left of|whats left of|"
        rf"what is left of|like [1-9][0-9]+|[1-9][0-9]+ of)|(swallowed|drank|injected) (every|"
        rf"everything in)) (\w+ ){{0,3}}({_MEANS}|pill|pills|bottle|organizer|cabinet|lockbox)\b",
        r"(swallowed|drank|injected|took|ate) (most of|a lot of|a bunch of) (\w+ ){0,3}(bottle|"
        r"organizer|cabinet|lockbox)\b",
        r"\bi took a lot\b(?! (of|on|in|off)\b)|(injected|inject) (a lot|a bunch|all|too much)",
        r"((said|saying) goodbye to (everyone|everybody|every|each|all|the whole)|(texted|sent|"
        r"posted|left (me|a|her|him)) (\w+ ){0,6}(goodbye|see you on the other side|i love "
        r"you))\b.{0,80}\b(not answering|is not answering|not picking up|"
        r"is not picking up|phone (is )?off|car is gone|location (is )?off|walked out|drove off|"
        r"can not find)",
        r"(he|she|they|mom|dad) (is|are) going to (let go|jump)\b(?! (at|in|on|for|to)\b)",
    ),
    *_rules(
        C.SELF_HARM,
        HIGH,
        r"burning myself with|burned myself with (\w+ )?(cigarettes|a cigarette|a lighter|the "
        r"lighter)|(carved|carving) (\w+ ){0,3}into my|opened up my (arm|leg|thigh|wrist|skin)|"
        r"(scratched|scratching) (my )?(\w+ )?(arm|arms|forearm|skin|scalp|legs|wrists) (raw|open|"
        r"until|till)",
        r"relaps\w*\b.{0,60}\b(blade|razor|cut|cutting)|(blade|blades|razor|razors)\b.{0,60}\b"
        r"(relaps\w*|urge|urges)",
        r"(hide|hiding) (my |the )?(cuts|scars|marks|burns)",
        r"\burges?\b.{0,40}\b(blade|razor)|(urge|urges) to cut\b(?! (back|down|out|off|corners|"
        r"the|his|her|my hair|ties))",
        r"\b(i|i have|i am|been|started) (cut|cutting) again\b|slipped up and cut",
        r"(till|until) (they|it|my \w+) (bleed|bled|split)",
        about_speaker=True,
    ),
    *_rules(
        C.HARM_TO_OTHERS,
        HIGH,
        r"(not|do not) trust myself (with|around) (him|her|them|mom|dad|my \w+|the baby|the kids)",
        r"i am not safe around (him|her|them|my \w+|our \w+)",
        r"make (him|her|them) swallow (the whole|all|every)|(shove|push) (him|her|them|his \w+|her "
        r"\w+) (\w+ ){0,3}(off the|into traffic|down the stairs)",
        r"(i see myself|i keep picturing|picturing|imagining) (\w+ ){0,3}(bringing (the|a) \w+ "
        r"down on|pushing (him|her)|shoving (him|her)|hitting (him|her))|picture(ing)? the (\w+ )?"
        r"stairs\b.{0,40}\b(him|her) at the top",
        r"(thought|thinking) about letting go of (his|her|him)",
        r"(thoughts|thought) (about|of) (\w+ ){0,3}that (scare|scared|frighten|frightened) me",
        r"before i hurt (him|her|them)\b(?! (feelings|back))",
        r"(i have been|been) rough with (him|her|them)",
        r"(want|wanted) (him|her|them) (\w+ )?(quiet|gone|asleep) for good",
        r"how easy it would be to (just )?(not go in|let (him|her)|push|leave (him|her))",
    ),
    # ... and what the fifth round's lines share with them: means kept "for me", a purchase
    # explained away, rehearsal, time told as the last of something.
    *_rules(
        C.METHOD_OR_MEANS,
        HIGH,
        rf"({_MEANS}|{_WEAPON}|{_PLACE}|{_MEANS_MORE})\b.{{0,100}}\b(((enough|kept|keeping|saving|"
        r"saved|counting|loaded|so easy)( \w+)? for|work on) (me|myself|someone my size)\b(?! "
        r"to\b)|(do not|can not) trust myself|not for (balloons|shaving|a "
        r"car|the car|deer|hunting|burglars)|(is not|was not) because of (mom|dad|him|her)|i know "
        r"why i (moved|took|bought|hid|kept) (them|it)|(figure out|guess) what (it is )?for|"
        r"(took|taken|take) (it|one|them) out (\w+ ){0,3}(and )?(held|looked|several|again|"
        r"tonight)|(just )?(stood|sat) there holding|opened (it|the \w+) (\w+ ){0,3}and (just )?"
        r"(stood|sat) there|held it for a while)",
        r"(looked up|reading|read|googled|researched|looking up) (\w+ ){0,3}(how long it takes to "
        r"(drown|die|bleed)|what happens if (you|i|someone) (take|put on|mix|swallow|use)|the "
        r"overdose (section|warning|part))",
        r"(bridge|overpass|building|roof|rooftop|balcony|parking garage|cliff|drop|window) (\w+ )"
        r"{0,3}(is )?(high|tall|deep) enough\b",
        r"(bought|ordered) (\w+ ){0,4}(rope|charcoal|helium|antifreeze|ammo|bullets)\b"
        r".{0,60}\b(not for (balloons|a party|the party|a car|the car|a grill|the grill|camping)|"
        r"(do not|dont) ask$|figure out what for|you can guess|we do not even (have|need|own))",
        about_speaker=True,
    ),
    *_rules(
        C.PLAN,
        HIGH,
        r"(know|figured out|worked (it )?out|decided|picked|chosen|chose) (exactly )?(how and "
        r"where|"
        r"where and how|when and where|where and when|the day and the place)",
        r"(after|once|when|then|tonight|tomorrow|monday|tuesday|wednesday|thursday|friday|saturday|"
        r"sunday) (\w+ ){0,8}(i am|i will|i) (ending|end) it\b",
        r"(i am|im) (done|gone|out)\W*(permanently\b|(for good|for real)$)",
        r"(when|after|once) (he|she|they|dad|mom|my \w+) (dies|die|passes|is gone)\b.{0,30}"
        r"\b(i (go|am going|will go|follow|am following)|i go too)\b",
        rf"(pills|bottle|rope|{_GUN}) and (a |the |my )?(note|notes|letters) (are |is )?(ready|"
        rf"done|"
        r"written|set out)\b",
        about_speaker=True,
    ),
    *_rules(
        C.PREPARATORY_ACTS,
        HIGH,
        r"(will not|wont) (be )?need(ing)? (it|them|any of (it|them)) where (i am|im) (headed|"
        r"going)",
        r"(whoever|nothing|less|nobody|no one) (?!comes\b)(\w+ ){0,4}after me$",
        r"(not|does not|did not|doesnt|didnt|do not) know it was (bye|goodbye)\b",
        r"(last (thing|memory)|the last thing) (\w+ ){0,3}(remember|remembers|got|get|hear|hears|"
        r"see|"
        r"have) (of|from) me|last memory of me|last thing they remember",
        r"(once|when|after|for when) i am no longer (here|around|alive)",
        r"(practiced|practicing|practising|practised|tried it|rehearsed|rehearsing|tested) (\w+ )"
        r"{0,3}(with |w )?(the )?(?<!gait )(?<!transfer )(belt|rope|noose|cord)\b(?!.{0,20}\b("
        r"transfer|transfers|lift|lifting|gait|move|moving|walk|walking)\b)|(belt|"
        r"rope|noose|cord)\b.{0,40}\b(closet rod|rafter|stool|just to (see|know))",
        r"(sat|sit|sitting) in the (car|garage) (\w+ ){0,4}(door down|hand on the key|just to see)",
        r"(spitting|spit) out my (\w+ )?(pills|meds|medication|trazodone|sleeping pills|"
        r"antidepressants)|(saving|saved) (them|it|some|those) (up )?for (myself|me)\b|the ones "
        r"i am saving",
        about_speaker=True,
    ),
    *_rules(
        C.IMMEDIATE_DANGER,
        HIGH,
        r"(took|taken|swallowed) too many (\w+ ){0,2}on purpose|(overdosed|overdose|took (them|it|"
        r"all of (them|it))) on purpose|(took|swallowed) (it|them) (an hour|[0-9]+ (min|mins|"
        r"minutes|hours|hrs)) ago\b.{0,40}\b(nothing|how long|dizzy|floaty|not (feeling|working))",
        r"(parked|sitting|standing|sat) on the (railroad |train )?(tracks|trestle)|(i am|standing|"
        r"walked) in the (water|ocean|lake|river|creek) up to my (waist|chest|neck)",
        r"(hose|tube) (is )?(on|in|to) the exhaust|(burners|knobs) (\w+ ){0,3}no flame",
        r"(put|hung|tied) the (rope|belt|noose) (up|to|over|around)\b",
        rf"{_GUN}\b.{{0,40}}\b(safety is off|safetys off)|{_GUN} in (his|her|my) mouth",
        r"(do not|dont) come looking( for me)?|(said|says) (do not|dont) follow (her|him|me)|"
        r"(shut|turned|switched) off (his|her|my) location",
    ),
    *_rules(
        C.WISH_TO_BE_DEAD,
        HIGH,
        r"(hope|hoping|wish|wishing|pray|praying) (\w+ ){0,5}(would |will )?(hit me|hits me|run me "
        r"over|runs me over|runs the light|cave in on me|falls on me|i (would|d) (just )?(die|stop "
        r"breathing)|i (just )?(do not|never) wake up|i get in a wreck|i die in my sleep)|(hope|"
        r"hoping|wish|wishing) something (bad )?happens to me",
        r"if i could (\w+ ){0,6}(die|stop existing|disappear from existence|not exist|not wake up)"
        r"\b.{0,30}\b(take it|pushed it|pressed it|in a heartbeat)",
        r"(death|dying|being dead) (would be|sounds|seems|feels) (so |kind of |pretty )?(restful|"
        r"like "
        r"(a )?(rest|break|relief))",
        r"wish i (was|were) the one (dying|in the (hospice )?(bed|casket|coffin|grave))",
        r"(wish|wishes|wished) it had been (me|mine)\b",
        r"(cemetery|obits|obituaries|funeral|graves|coffin|casket)\b.{0,60}\b(lucky (them|him|her)|"
        r"envied|envy|jealous)",
        r"(want|should|need) to stop (everything|all of it)\b.{0,40}\b(waking up|breathing|living)",
        r"(quiet|peaceful|nice) it would be if i (just )?(was not|wasnt|were not|was gone|died)",
        about_speaker=True,
    ),
    *_rules(
        C.HARM_TO_OTHERS,
        HIGH,
        r"(picture|picturing|thought|thinking|think|imagine|imagining|rehearsing) (\w+ ){0,4}"
        r"(letting go of (his|her) (\w+ )?(wheelchair|head)|leaving the gas on|not (refilling|"
        r"thickening|calling|giving) (his|her|anyone)|(mashing|crushing) (\w+ ){0,4}(pills|meds)|"
        r"turning (\w+ ){0,2}oxygen (down|off)|make it look like a fall|giving "
        r"(her|him) the rest)",
        r"(turn|turned|turning|switch|switched) (her|his|their) oxygen (down|off)",
        r"before i (do something to|lose it on|put my hands on) (her|him|them)|(so i|so that i) "
        r"(do not|dont|would not|wouldnt) (put my hands on|hit|hurt) (him|her|them)",
        r"(throw|shove) (him|her|them) (down|off|out|against|into)\b",
        r"(kept|held|holding|hold|pushed) (his|her) (head|face) under",
        r"(hands|hand) (were |was )?(around|over) (her|his) (neck|throat|mouth|face)",
        rf"(going to|want to|will) (hurt|kill|shoot|stab) (somebody|someone|anybody|everybody)|"
        rf"going over there with (his|her|dads|my|a|the) (\w+ )?({_GUN}|knife)",
        r"(grabbed|yanked|dragged|squeezed|pinched|shook) (him|her|them|mom|dad|the baby|my \w+|"
        r"(his|her) (arm|wrist|hand|face|hair)) (\w+ ){0,4}(so hard|too hard|harder than)",
        r"(pushed|shoved) (him|her|them|mom|dad|the baby|my \w+) (\w+ ){0,4}(too hard|harder than "
        r"i should)",
        r"(left|kept|leaving) (him|her|them) (in|without) (\w+ ){0,5}on purpose",
    ),
    # Ninth pass: the seventh round's new authors. Acts under way told in fragments ("i took them
    # all", "engine's on, garage door down", "wrong side of the rail"), means kept "for me",
    # arrangements for after, dates picked, hedged wishes, burden counted in money, and what
    # others do or threaten at home.
    *_rules(
        C.IMMEDIATE_DANGER,
        HIGH,
        # All of a means, told after the fact.
        r"\b(i|he|she|they|mom|dad) (swallowed|drank|downed) (them|it) all\b(?! (to|back|in|out|"
        r"with|home|off|away|for|the|at|on)\b)|\bi took them all\b.{0,40}\b(and mine|goodbye|"
        r"sorry|left at|is gone|nobody)",
        r"(took|swallowed|drank|ate|downed|emptied) (every|everything|all) (\w+ ){0,2}in (the|my|"
        r"his|her|their) (\w+ )?(medicine cabinet|med cabinet|cabinet|purse|bag|bottle|drawer|"
        r"closet|organizer)",
        r"(emptied|poured|dumped) (\w+ ){0,5}(bottle|pills|organizer|card) (\w+ ){0,2}into (his|"
        r"her|my|their) mouth",
        rf"(swallowed|drank|downed|injected|took) (\w+ ){{0,5}}({_MEANS}|bottle|pens|pills)\b "
        r"(\w+ ){0,2}(the whole thing|all of (it|them)|every (one|last one))\b",
        rf"(swallowed|drank|took|popped|ate) (like |about |maybe )?[0-9]+ or [0-9]+ (of )?"
        rf"(\w+ ){{0,2}}({_MEANS}|pills)",
        r"(injected|stuck|shot) (like |about )?([2-9]|[1-9][0-9]+) (of )?(\w+ ){0,2}(insulin )?"
        r"(pens|syringes|vials|patches)",
        r"(stuck|put|slapped) (on )?(like |about )?(all|[2-9]|[1-9][0-9]+|every one) (of )?(his|"
        r"her|my|their|the) (\w+ )?patches (on|all)\b",
        r"(every|all the|all of the) (pill|pills|tablet|tablets) (\w+ ){0,6}and (swallowed|took|"
        r"ate|downed) (them|it)",
        rf"(took|swallowed|drank|injected|popped|ate) (\w+ ){{0,5}}({_MEANS}|pills|pens|patches)"
        r"\b.{0,60}\b(slurring|unresponsive|foaming|spinning|breathing (is )?slow|meant to|chest "
        r"feels|shaky and sweaty|it burns)",
        # Something from under the sink.
        r"(swallowed|drank|swigged|ate|bit into|chewed|drinking|eating) (\w+ ){0,3}(from under "
        r"the sink|toilet cleaner|dish pods|tide pods|laundry pods|detergent|drain cleaner|lye|"
        r"rat poison|weed killer|lighter fluid)",
        # An engine running in a closed garage.
        r"garage\b.{0,80}\b((engine|engien|motor|car|truck|van) (is |was )?(on|idling|running)|"
        r"(started|turned on) the (engine|car|truck|motor)|idling)\b|((engine|engien|motor) (is |"
        r"was )?(on|running)|idling|(started|turned on) the (engine|motor)|with it running)\b"
        r".{0,50}\bgarage",
        # On the wrong side of a railing, on a ledge, legs over the side.
        r"(wrong|other|outside|far) side of the (\w+ )?(rail|railing|fence|barrier|guardrail)|"
        r"the outside of the (\w+ )?(rail|railing)",
        r"(climbed|climbing|stepped|standing|sitting|sat|perched|is|am|i am) (out )?(onto|on|up "
        r"on) (the|a|his|her|my) (\w+ )?(ledge|railing|window ledge|windowsill)\b",
        r"(legs|feet) (\w+ )?(over|hanging over|dangling over) the (side|edge|rail|railing|ledge)",
        r"(standing|stood|waiting) (right )?at the yellow line",
        # A rope or belt up, and someone got down from it.
        r"(cord|rope|belt|noose) (is |was )?(tied|hung|up)\b.{0,40}\b(standing|stool|chair|tub|"
        r"neck)|(belt|rope|cord) (on|from|over) the (ceiling fan|beam|rafter|closet rod|hook|"
        r"banister)",
        r"(belt|rope|cord)\b.{0,60}\b(got|cut|get|getting) (him|her|them) down\b(?! (for|to|the|a|"
        r"from the)\b)",
        r"in the (bath|tub|bathtub) (\w+ )?with (\w+ ){0,3}(razor|razors|blade|blades|knife)\b"
        r"(?! (\w+ )?(shav\w*|legs)\b)",
        rf"{_WEAPON} (to|at|against) (his|her|their|my) own (head|throat|chest|wrist|neck)",
        # Goodbye, then gone with a weapon or the car, not answering.
        r"goodbye\b.{0,80}\b(will not (pick up|answer)|(gun|rifle|pistol|shotgun|truck|car) is "
        r"gone|so is the (gun|rifle|pistol|shotgun)|not (in|at) (the house|home))",
        rf"({_GUN})\b.{{0,60}}\b(will not|would not|not) (answer|answering|pick up|picking up)\b",
        # Taken something and no one knows how much.
        r"(slurring|unresponsive|foaming|passed out)\b.{0,80}\bhow many (\w+ ){0,2}(took|had|"
        r"swallowed)|(pill organizer|organizer|bottle|blister \w+) (\w+ )?(is )?empty\b.{0,60}\b"
        r"(unresponsive|slurring|not waking|will not wake|breathing slow)|(unresponsive|slurring)"
        r"\b.{0,60}\b(pill organizer|organizer|bottle) (\w+ )?empty",
    ),
    *_rules(
        C.METHOD_OR_MEANS,
        HIGH,
        # A means, then the thought of taking it oneself.
        rf"({_MEANS}|bottle|box|comfort kit)\b.{{0,100}}\b(thinking about|think about|thought "
        r"about) (taking|swallowing|drinking|using|finishing) (it|them|the \w+)( all)? (myself|for "
        r"myself)|(taking|swallowing|finishing) (the bottle|it|them|the rest)( all)? myself\b",
        rf"(i|and i) (think|thought) about (swallowing|taking|drinking|downing) (them|it|the "
        rf"\w+|all of them) all\b|{_MEANS}\b.{{0,80}}\bwhat if i took\b",
        rf"{_MEANS}\b.{{0,60}}\b(enough to|enough for me to) (put me to sleep|end me|not wake "
        r"up)|more than enough to (end me|kill me|do it|not wake up)|(enough|is \w+ of) (\w+ ){0,4}"
        r"enough to not wake up",
        # Standing at the drop, night after night.
        r"(standing|stood|stand|stayed|stay|sat|sitting) (right )?(at|by) the (very )?(edge|drop)"
        r"\b(?! of (the|his|her|my|our) (bed|chair|pool|tub|bath|road|driveway|seat))",
        r"(ive been|i have been|been|keep) going up (there )?to hold (one|it|the \w+)",
        r"(think|thinking|picture|picturing|thought) (\w+ ){0,3}(stepping off|leaning forward and "
        r"letting go|letting go|going over|walking in and not coming out|not braking|pull of the "
        r"wheel)\b(?! (of (his|her|the|my) (hand|arm|chair|wheelchair)))",
        r"(not brake|not braking|not take the curve|not stop|one pull of the wheel|pull of the "
        r"wheel)\b.{0,60}\b(every day|every drive|crossed my mind|right there|no guardrail|"
        r"semi|bottom of the hill)",
        r"(measured|measuring|tested|testing) (the )?(beam|rafter|knot|drop|closet rod)\b.{0,60}"
        r"\b(idk why|for me|do not know why)",
        r"(would|is|be) (the )?(fall|drop) (from (\w+ ){1,4})?(be )?enough\b",
        r"(looping|looped|loop) (it|the belt|the cord|the rope)\b.{0,40}\b(back|again|hook)",
        about_speaker=True,
    ),
    *_rules(
        C.PREPARATORY_ACTS,
        HIGH,
        r"for when i am ready\b(?! (to|for)\b)",
        r"(wont|will not|not) (be )?need(ing)? (any of (it|this|that|them)|anything|anywhere to "
        r"live|a coat)\b(.{0,30}\b(after|where|past) (this|next|tonight|tomorrow|the|i am)\b|$)",
        r"(closing|close|closed) up shop on my life",
        r"(signed|put|gave) (\w+ ){0,4}(over|in my (\w+ )?name)\b.{0,60}\b(will not be|not be|"
        r"not planning on being) (alive|here|around)",
        about_speaker=True,
    ),
    # The same, where the words themselves say whose: "it's for me", "whoever finds me".
    *_rules(
        C.METHOD_OR_MEANS,
        HIGH,
        # Means kept, named as the speaker's own: "it's for me", "the adult is me".
        rf"({_MEANS}|{_WEAPON}|{_PLACE}|{_MEANS_MORE}|poison|jar|envelope|shoebox)\b.{{0,120}}\b"
        r"((it is|that is|they are|those are) (really |just |all )?for me\b(?! to)|(keep|keeping|"
        r"kept|saving|saved) (them|it) for me\b|(the|that) (adult|person|someone) is me|(it is|"
        r"that is) me i (would|will|d) use|i know (exactly )?what (they are|it is|that is) "
        r"(really )?for|i know (exactly )?what i (would|will|d) do with (it|them)|not (asking )?"
        r"for (the dog|intruders|the cat|the rats|pests)|(is|are) not for intruders|not to keep "
        r"(it|them) from (him|her|them)|(could|might) be my way out|(would|will|could) work for "
        r"me\b)",
        r"(latch|window) opens all the way\b.{0,10}\bi checked",
    ),
    *_rules(
        C.PREPARATORY_ACTS,
        HIGH,
        r"(last time|one last time|one more time) (\w+ ){0,3}(will |would )?(ever )?(see|hear "
        r"from|hear) me\b",
        r"so (that )?(nobody|no one|she|he|they|the kids|my \w+) (\w+ ){0,3}(finds|find|found|"
        r"walks in on|walk in on|gets to|get to|break in to get to|walks in while i) me\b|(is|"
        r"are|be) not the (one|ones|person) (who|that|to) (finds|find|walks in on) me\b",
    ),
    *_rules(
        C.INTENT,
        HIGH,
        r"\bi (will not|am not going to) be alive\b",
        r"(not|never) sticking around (on|in) this (earth|world)|(not|never) sticking around for "
        r"the rest",
    ),
    *_rules(
        C.PLAN,
        HIGH,
        r"(i|i have|i have got) (got |have )?(a|my|the) date (picked|set|chosen)\b|\bi have a "
        r"date$",
        r"(day|night|date|time|week) i am (picking|choosing|going) to (end it|do it|die|end "
        r"things)",
        r"(my|the|a|that is) window (\w+ )?to (do it|end it|end things)\b",
        r"(return|round trip) ticket\b.{0,40}\b(not|no need|will not need)|(not|no) (buying|"
        r"getting|booking) a return ticket",
        about_speaker=True,
    ),
    *_rules(
        C.PLAN,
        HIGH,
        r"\b(i|i will|i am going to|then i) (take|swallow|swallowing|taking|down) (the|a|that|"
        r"his|her|my) (whole |entire |full )?bottle\b(?! (to|back|with|in|of water|of wine|"
        r"of ensure)\b)",
        r"(then|tonight|thats when|that is when) (\w+ ){0,3}(i will|i am going to|i) take the "
        r"pills (then|tonight)\b|i will take the pills then",
        r"(then|after that) the (pills|bottle|rope|bridge|car|garage)$",
        r"(driving|drive|going|go|went|drove) off the (pass|hairpin|switchback|pier|dock|bluff|"
        r"mountain|gorge)\b",
        r"\bi (am |will |do )?(\w+ )?(not|never) (planning on |planning to |going to )?(driving|"
        r"drive|coming|come) back\b(?! (to|for|until|after|before|later|tomorrow|tonight|soon|in|"
        r"with|from|down|up|home|here|there|out)\b)|not coming back myself",
        r"(that is|thats|its|it is) the plan$|the plan is (the )?(bridge|pills|rope|car|garage|"
        r"gun)",
        r"(counted|counting|done the math|did the math|worked out|ran the numbers)\b.{0,40}\b("
        r"his pills and mine|the full bottle)|(his|her) pills and mine\b",
        about_speaker=True,
    ),
    *_rules(
        C.INTENT,
        HIGH,
        r"(last|final) (\w+ )?alive\b",
        r"(leaving|leave) this world (before|after|tonight|tomorrow|soon|by|when)\b",
        r"(i will|i ll) (be|b) gone (before|b4|by) (the|my|next|his|her)\b(?!.{0,30}\b(appointment"
        r"|back|home|return|shift|work|trip)\b)",
        about_speaker=True,
    ),
    *_rules(
        C.WISH_TO_BE_DEAD,
        HIGH,
        r"disappoint\w* (\w+ ){0,3}(that )?i am still (here|alive|breathing)",
        r"(peaceful|nice|restful|quiet|easy|good) (it would be|it would feel) to (just )?(not "
        r"(exist|wake up|be here|be alive)|stop existing|never wake up|be dead|die)",
        r"never (open|opening|opened) my eyes again",
        r"(hoping|hope|hoped|wish|wishing|begging|bargaining|praying|pray) (\w+ ){0,3}my (own )?"
        r"heart (just |would |will )?(to )?(give out|gives out|quit|quits|stop|stops)\b",
        r"(germs|virus|covid|flu|cancer|disease|storm|tornado|tumor|turbulence) (\w+ )?(gets|get|"
        r"takes|take|kills|kill) me\b(?! (to|a|an|some|down|out|back|in)\b)",
        r"(gets|takes|kills) me\b.{0,40}\b(will not|would not) (be )?(sad|mind|upset|fight)",
        r"(blink|fade|vanish|disappear|wink) out of (existence|existing)|\bi (would |had )?never "
        r"(have )?existed",
        r"(hoping|hope|wish|wishing) (\w+ ){0,10}and i am (not there|not here|gone)\b",
        r"(ditch|crash|wreck|accident|truck|bus|plane|heart attack|stroke|aneurysm)\b.{0,40}\b"
        r"(would not|is not) (really )?be (the worst thing|so bad|that bad)\b",
        r"(do not|does not|never) (really |even |honestly |truly )(want|wish) to (live|be alive|"
        r"exist|be here|wake up)",
        r"(burial|funeral|wake|viewing|cemetery|grave|graveside)\b.{0,60}\b(envying|envied|envy|"
        r"jealous of) (her|him|them)|i want my own (plot|grave|casket)|lucky (him|her|them)\b"
        r".{0,20}\bi want (that|it)",
        r"wish (that )?i (was not|were not|would not be) (making it|going to make it)\b(?! to)",
        r"(picture|picturing|imagine|imagining) (myself|me) (dead|in (a|the) (casket|coffin|"
        r"grave))",
        r"(hope|hoping|wish) (\w+ ){0,4}i (just )?(do not|never|will not) (get up|open my eyes)"
        r"\b(?! (early|late|in time|before))",
        r"why (does|do) (god|the lord|jesus) (keep )?(wak\w+ me|let\w* me wake)",
        r"(stay|staying) asleep (for good|forever)|(go|went) to sleep and stay asleep|stay there "
        r"for good if i could",
        r"indifferent (about|to) (surviving|living|dying|whether i)|(will not|would not) be sad if "
        r"(it|this|i|everything) (ends|end|die|died)",
        r"(pray|prays|hopes|wishes|hope|wish) (\w+ ){0,3}(not to (wake|make it)|to not wake)",
        r"(would|d|will) welcome (the end|death|dying)\b",
        r"(had|have had|has had) enough of (living|life|being alive)",
        r"put me down like (a|the) (dog|horse|cat)",
        r"(pull|take) (the|his|her|my) (cannula|oxygen|feeding tube|tube) (out|off) and (be done|"
        r"die|go|end it)",
        r"(does not|do not|can not|could not) see the point (of|in) (going on|living|life|being "
        r"alive|carrying on)",
        r"(counting|count) (down )?(the )?days (till|until) (god|the lord|jesus) (takes|calls) me"
        r"|(till|until) (god|the lord|jesus) (takes|calls) me\b",
        r"wish(es|ed)? (that )?(he|she|i|they) (would|could) (just )?die (first|before|already|"
        r"soon)\b",
        about_speaker=True,
    ),
    *_rules(
        C.BURDENSOMENESS,
        HIGH,
        r"(free|life back|lives back|be set|kinder|cheaper|fixed) (\w+ ){0,4}if i (was |were |am |"
        r"just |would )?(gone|dead|died|not alive|was not alive|were not alive|was not here)",
        r"(me|my) (being dead|being gone|death|dying) (would )?(fix|fixes|solve|solves)\b",
        r"(funeral|me dead|me being dead|my funeral) (\w+ ){0,3}(would be |is )?cheaper|me dead "
        r"(vs|versus|or|compared to) me alive",
        r"(out of|get out of) (everyone s|everyones|everybody s|their|the) way (for good|"
        r"permanently|forever)",
        r"me not in (it|their lives|the picture)\b.{0,20}\b(permanently|for good|forever)",
    ),
    *_rules(
        C.BURDENSOMENESS,
        MEDIUM,
        r"(weight|anchor|millstone|albatross) around (her|his|their|my \w+ s) neck",
        r"(dragging|drag|pulling) (them|everyone|everybody|my (family|kids|husband|wife)|him|"
        r"her) down with me",
        r"i am (just )?(another|one more|the) (item|chore|task|thing|job) (on (his|her|their|my "
        r"\w+ s|everyone s) (\w+ )?(list|plate)|they are tired of)",
        r"i take more than i give",
        r"(rearrange|revolve) (\w+ ){0,2}around (my|me and my) (mess|problems|needs)",
    ),
    *_rules(
        C.HOPELESSNESS,
        MEDIUM,
        r"\bnothings? (is )?(ever )?going to (get better|change|improve)",
        r"no exits|(nobody|no one|no help)( is|s)? coming$|(nobody|no one) is coming\b(?! (to|"
        r"over|for|by|tonight|today|tomorrow|until|till|in|on|back|home|with)\b)",
        r"no version of (\w+ ){0,3}(that is|where) (\w+ ){0,3}better",
        r"so numb (that )?i (did not|do not|can not|could not)",
        r"(trapped|stuck|caught) in (a|this) life\b",
        r"(waiting|wait) for it to get (lighter|better|easier)\b.{0,40}\b(heavier|worse|harder)",
        r"used to have (hope|hopes|dreams)\b",
        r"(can not|do not) see (anything|it|things|this) (ever )?(improving|getting better|"
        r"changing)",
        r"why bother (with )?(any of it|anything|at all|any more)$",
        about_speaker=True,
    ),
    *_rules(
        C.CONCERN_FOR_OTHER,
        MEDIUM,
        r"(says|said|saying|tells|told) (\w+ ){0,12}better off (in the ground|dead|gone)",
        r"wants to (disappear|vanish) (forever|for good|permanently)",
        r"(wish|wishes|wished|hopes|hoping) (\w+ ){0,5}(had )?(finished|finish|finishes|killed|"
        r"kills) (him|her|them)( off)?\b",
        r"(wishes|wished|wish) (he|she|they) (had|would|would have) died",
        r"(says|said|saying|keeps saying) (\w+ ){0,4}i should have died",
        r"(starve|starving) (himself|herself|themselves)|stop (eating|drinking) so (he|she|they) "
        r"(can|could|will|would) (die|go|be with)",
        r"(wants|wanted|wishes) (his|her|their) life to (be over|end)",
        r"help (him|her|them) (to )?end things",
    ),
    *_rules(
        C.HARM_FROM_OTHERS,
        HIGH,
        rf"(waving|waved|pointing|pointed|aimed|aiming|swinging|swung) (\w+ ){{0,3}}({_WEAPON}|"
        r"bat|baseball bat|hammer|it|shovel|scissors) at me\b",
        r"(knife|bat|gun|pistol|rifle|hammer|scissors|screwdriver)\b.{0,50}\b(following me|"
        r"chasing me|coming at me|came at me|at my (\w+ )?door)|(following|chasing|chased|came "
        r"at|coming at|went for|cornered) me (\w+ ){0,5}with (a|the|his|her) (\w+ )?(knife|bat|"
        r"gun|hammer|scissors|screwdriver|shovel|cane|nail file)",
        rf"loaded (his|her|the) ({_GUN}) (\w+ ){{0,3}}and (said|told me|looked at me|stared)",
        r"(knife|gun|blade|bullet|scissors) (on|under) (my|his|her) (pillow|bed)",
        r"(gouge|gut|drown) me\b|(gouge|slit|cut) my (eyes|throat)",
    ),
    *_rules(
        C.DOMESTIC_VIOLENCE,
        HIGH,
        r"(burn|burns|burning) (the|this|our) (house|place) down with (us|me|both of us|all of "
        r"us|the kids)",
        r"(says|said|whispers|tells me|saying) (\w+ )?you are next",
        r"(threw|throws|throwing) (a |the |hot |her |his )?\w+ at my (head|face)|(threw|throws) me "
        r"(into|against|down)",
        r"(pinned|pinning) me (down|against|to)|(thumb|finger|hand) ?(marks|prints|bruises) on my|"
        r"(marks|bruises) on my (neck|throat)",
        r"\b(he|she|they) (\w+ ){0,2}(held|holds|holding|pushed|pushes|shoved|forced) my (head|"
        r"face|hand) (down )?(under|into|in|on)\b",
        r"(slashed|slashes|slit|let the air out of) my tires",
        r"(took|hid|takes|hides|pulled|disabled|locked|broke) .{0,40} so (that )?i (can not|could "
        r"not|will not) (leave|go|drive|get out|call)",
        r"(says|said|threatens|told me|texting|keeps saying) (that )?(if i )?(\w+ ){0,8}(i will|"
        r"ill|i would) (regret it|be sorry)",
        r"makes me (kneel|beg|sleep on the floor)",
        r"(said|told him|i said) no (\w+ ){0,3}(and )?(he|she) did it anyway",
        r"break (it|the door|my jaw|my phone) (down )?\b.{0,20}\b(and (then )?me|i will be sorry)|"
        r"(break|breaks) my jaw",
        r"(tied|ties|tying) my (wrists|hands|ankles)",
        r"\b(he|she|dad|mom|husband|wife|boyfriend|girlfriend|brother|son|stepdad|partner) (\w+ )"
        r"{0,2}(split|busted|bloodied|broke|cracked) my (lip|nose|ribs|rib|jaw|tooth|teeth|"
        r"collarbone|fingers?)",
        r"\b(he|she|they) (\w+ ){0,2}(twists|twisted|twisting|yanks|yanked|bends|bent) my (wrist|"
        r"arm|arms|fingers)",
        r"(put|puts|putting) me in the (ground|hospital|hospital bed)",
        domestic_violence=True,
    ),
    # ... and the rest of their tail: what a plan's pieces sound like together, harm done at
    # home by someone ill, and what a caregiver fears doing.
    *_rules(
        C.IMMEDIATE_DANGER,
        HIGH,
        r"([5-9]|[1-9][0-9]+) or ([6-9]|[1-9][0-9]+) of (\w+ ){0,2}(pills|meds|xanax|oxy|ambien|"
        r"valium|ativan|klonopin|clonazepam|percocet|vicodin|tylenol|sleeping pills)\b",
        r"\bi (did it|took them|swallowed them)\b.{0,10}\ball of (them|it)\b",
        rf"(took|with|grabbed) (the |his |her |all the )?({_MEANS}|pens|{_WEAPON})\b.{{0,50}}\b"
        r"locked (himself|herself|themselves|myself) in",
        rf"(put|putting|loaded|loading) (bullets|shells|rounds) (in|into) (his|her|the|my) "
        rf"({_GUN})",
        r"(pond|lake|river|water|ocean|creek|sea) (\w+ ){0,4}up to (his|her|my|their) (waist|"
        r"chest|neck)",
        r"(throw|throwing) (himself|herself|myself|themselves) (down|off|in front)",
        r"pockets (full of|filled with) (rocks|stones)",
        r"(overpass|bridge|railing|ledge|balcony|roof)\b.{0,60}\b(leaning over|right at the edge|"
        r"climbing over)",
        r"(car|truck) on the (railroad |train )?tracks",
    ),
    *_rules(
        C.METHOD_OR_MEANS,
        HIGH,
        r"(looking|look|looked|staring|stare|stared|peering) (over|down) (the edge|the side|the "
        r"railing|the rail)\b",
        r"one (pull|turn|jerk|flick|yank) of the wheel",
        r"(the )?(fall|drop) (from (\w+ ){1,4})?(would|will|is|be) (be )?(high |far )?enough\b",
        r"(dose|amount|how many)\b.{0,40}\b(for )?(an adult|someone|a person) (my|of my) (size|"
        r"weight)",
        r"(different|another|second|2nd|separate) pharmac(y|ies)\b.{0,40}\b(flag|notice|"
        r"suspicious|would not)",
        rf"(up there|out there|alone) (alone )?with (\w+ ){{0,2}}({_GUN}|rope)\b",
        rf"({_MEANS}|{_WEAPON})\b.{{0,120}}\b((it is|its|that is) (really |just |all )?for me\b"
        r"(?! to)|its me i (would|will) use|i know (exactly )?what i (would|will|id) do with (it|"
        r"them)|id do with (it|them)|its not for (intruders|protection))",
        r"(i could|could just|i might) (drink|take|swallow|finish) (it|them) all( myself)?\b",
        about_speaker=True,
    ),
    *_rules(
        C.PLAN,
        HIGH,
        r"(walk|go|drive|head|going|walking|driving|heading) (out )?to the (\w+ ){0,2}where the "
        r"(rope|gun|rifle|shotgun|pills|noose) (is|are)\b",
        rf"(will find|find|finds) me (at|in|on|under) the ({_PLACE}|overlook|woods|motel|barn|"
        r"car|shed)\b",
        r"(i am|i will be) going when (he|she|they) (does|do|go|goes|dies)\b",
        r"(picked|chose|chosen|decided|know) (where|the place)\b.{0,20}\b(bridge|overpass|lake|"
        r"cliff|cliffs|tracks|garage|woods|overlook|river)",
        r"(except|just|only) me and the (pills|rope|gun|bottle)\b",
        r"(no rail|no guardrail|no railing|the curve|the cliff|the edge)\b.{0,60}\b(not stopping|"
        r"will not stop|not going to stop|not brake|not braking)",
        rf"({_MEANS}|{_GUN}|rope|bottle|garage)\b.{{0,80}}\b(its|it is) all (decided|lined up)|"
        r"it all lines up",
        about_speaker=True,
    ),
    *_rules(
        C.PREPARATORY_ACTS,
        HIGH,
        r"for whoever (finds|comes in|walks in)\b",
        r"(say|said|saying) (thanks|thank you|goodbye) (\w+ ){0,5}one (last|final) time",
        r"(trip|journey|drive|walk|swim) i (do not|will not|am not going to|would not) come back "
        r"from",
        r"(will not|not going to) be (there|here|around) (\w+ ){0,4}or at all",
        r"one (more|last) time before i (do it|go|die|end it)",
        r"(urn|casket|coffin|plot|headstone)\b.{0,60}\b(it is|its) for me\b",
        r"nothing (left )?for me after (tonight|today|tomorrow|this)",
        r"(caught on|realized|knew|noticed|know) (that )?it was (a )?goodbye",
        r"so (that )?(nobody|no one) (walks|walk|comes|come) in (on me|while i)",
        r"(last|final) (holiday|christmas|birthday|thanksgiving|easter) with me",
        r"\b(it is|its) for soon\b",
        about_speaker=True,
    ),
    *_rules(
        C.INTENT,
        HIGH,
        r"\bi am ending (it|things)\b(?! (with|between|for (him|her|them)|early)\b)",
        about_speaker=True,
    ),
    *_rules(
        C.WISH_TO_BE_DEAD,
        HIGH,
        r"(bus|truck|car|train) (could|would|might) (flatten|hit|kill|take out) me\b.{0,60}\b("
        r"finally|relief|fine|ok)",
        r"(happily|gladly) (swap|trade) places with",
        r"(wishing|wished|wish|hoping|praying) for (a|an|the) (heart attack|stroke|aneurysm|car "
        r"accident|wreck|crash|quick end|tumor)",
        r"(pray|hope|wish) (\w+ ){0,3}(that )?i (do not|will not) have to wake up",
        r"(rather|prefer to) be with (him|her|them) than (here|alive|be here)",
        r"(go|going) to sleep for good|(sleep|asleep) for good",
        r"(would|d) like to be dead",
        r"done with (this world|this earth)",
        r"not long for this world\b.{0,40}\b(hope|hopes|hoping|wish|glad)",
        about_speaker=True,
    ),
    *_rules(
        C.BURDENSOMENESS,
        MEDIUM,
        r"i am (just |such )?a drag on",
        r"(a|such a) waste of (oxygen|skin)",
        r"i (create|make|cause) (more )?(work|problems|trouble|messes) (everywhere|for everyone|"
        r"wherever)",
        about_speaker=True,
    ),
    *_rules(
        C.SELF_HARM,
        HIGH,
        r"(til|till|until) (they|it|my \w+) (bleed|bleeds|bled)",
        r"(scissors|blade|razor|knife|glass) (across|into|over) my (arm|arms|wrist|wrists|leg|"
        r"legs|thigh|thighs|skin)",
        about_speaker=True,
    ),
    *_rules(
        C.CONCERN_FOR_OTHER,
        MEDIUM,
        r"(hopes|hoping|wishes) (\w+ ){0,8}(kills|finishes) (him|her|them)( off)?\b",
        r"better off if (he|she|they) (died|was gone|were gone|was dead|were dead)",
    ),
    *_rules(
        C.HARM_TO_OTHERS,
        HIGH,
        r"giving (him|her|them) the (whole|entire) (\w+ )?(bottle|box)",
        r"(put|throw|shove) (him|her|them) through (the|a) (wall|window|door)",
        r"part of me wants (them|it|him|her) to\b|part of me wants to (leave|hurt|hit|let) (him|"
        r"her|them)",
        r"\bi (\w+ ){0,2}(hit|punched|kicked|pinched|choked) (my (mom|dad|mother|father|husband|"
        r"wife|grandma|grandpa|son|daughter)|him|her)\b(?! (up|back|with the|on the way)\b)",
        r"(grabbed|grab|had) (him|her|my \w+( \w+)?) by the (throat|neck)",
        r"(neck|throat) (would feel )?in my hands",
        r"(put|mix|mixing|slip|slipping) something (in|into) (his|her) (iv|food|drink|coffee|"
        r"applesauce|tea|feeding tube)|what i could put in (his|her) (iv|food|drink|tube)",
        r"\bi (will not|would not|am not going to) call 911\b",
    ),
    *_rules(
        C.DOMESTIC_VIOLENCE,
        HIGH,
        r"pay for it with (bruises|my face|a black eye)",
        r"(smash|break|hit|hurt) (my|the) (\w+ ){1,4}and (then )?me\b",
        r"(held|holds|pinned|pushed|shoved) me (up )?against the (wall|door|fridge|counter)",
        r"\b(he|she|they) (\w+ ){0,2}(grabs|grabbed|squeezes|squeezed) my (face|jaw|neck|throat)",
        r"(fist|punched|hole) (through|in) the (wall|door)\b.{0,40}\b(my head|my face|next to "
        r"me|inches from)",
        r"in case i (have|need) to run\b",
        domestic_violence=True,
    ),
    *_rules(
        C.HARM_FROM_OTHERS,
        HIGH,
        rf"(waving|waved|pointing|pointed|aimed|aiming|swinging|swung) (\w+ ){{0,3}}({_WEAPON}|"
        r"bat|hammer|shovel|scissors|lamp|chair|cane) (\w+ ){1,4}at me\b",
        r"(came|coming|comes) at (me|my face) with",
        r"(pours|poured|throws|spits|spat) (her |his |hot |the )*(\w+ )?(on|at) me\b",
        r"(hit|hits|struck|strikes) me with (a|the|his|her) (\w+ )?(chair|cane|bat|pan|lamp|"
        r"bottle|walker|remote|belt|flashlight|shovel)",
        r"\b(he|she|they|mom|dad|son|daughter|grandma|grandpa|husband|wife) (\w+ ){0,2}(bit|"
        r"bites) (through )?my (lip|arm|forearm|hand|finger|fingers|cheek|ear)",
        r"threaten\w* to (follow|find|come after|get) me",
        rf"({_GUN}|knife|bullet)\b.{{0,30}}\bhas my name on it",
        r"(keeps|kept) (shoving|pushing|hitting|kicking|punching|slapping|biting|scratching) me",
        r"(raked|clawed|scratched) (her |his )?(nails )?(down|across) my (face|cheek|arm|neck)",
    ),
    # The same with the speaker named in them ("i am", "for me"): whoever is mentioned before,
    # they are the speaker's own.
    *_rules(
        C.PLAN,
        HIGH,
        r"\bi am (going to )?(swallowing|swallow|taking|downing) the (whole |entire |full )?bottle"
        r"\b(?! (to|back|with|in|of water)\b)",
        r"(then|and) (it is|its) over for me\b",
    ),
    *_rules(
        C.PREPARATORY_ACTS,
        HIGH,
        r"\b(ill|i will) be dead\b(?! (tired|on my feet|before i))",
        r"\bi (will not|wont) be answering (any more|by then|after)",
    ),
)

# "I meant" that explains words away, not "I meant it" or "I meant to send that to her".
_NOT_MEANT_IT = r"(?! (it|every|that|what|to (send|text|say|write|tell|message))\b)"
# Spans that contain crisis words but mean something else; blanked before matching.
_IDIOMS = tuple(
    re.compile(rf"\b{pattern}\b")
    for pattern in (
        r"dying (to|for)",
        r"(die|died|dying|dead) (of|from|laughing|with laughter) ?(laughter|laughing|"
        r"embarrassment|boredom|shame|cuteness|curiosity)?",
        r"(bored|scared|worried|sick|worked|tired) to death",
        r"(could|would) kill for",
        r"killing it",
        r"kill(ing)? (some )?time",
        r"kill two birds",
        r"dead (tired|on my feet|battery|end|line|lines|serious|set)",
        r"(about|on) domestic (violence|abuse)",
        # A show or a class about it: "watching that domestic abuse drama".
        r"domestic (violence|abuse) (drama|show|documentary|movie|film|series|podcast|book|novel|"
        r"episode|training|class|seminar|awareness|course|article|storyline)",
        # "Better off if we ordered takeout": everyone together, not the writer gone.
        r"(everyone|everybody) (would be|is|will be) better off if (we|they|you|everyone|"
        r"everybody|somebody|someone)\b",
        # A game lost: "mom is beating me at scrabble", "this crossword, mom is beating me".
        r"beating me (at|in) (\w+ )?(cards|chess|scrabble|checkers|sudoku|wordle|crosswords?|"
        r"games?|bingo|rummy|puzzles?|dominoes|trivia|poker|gin|yahtzee|monopoly|uno)|(cards|"
        r"chess|scrabble|checkers|sudoku|wordle|crosswords?|games?|bingo|rummy|puzzles?|dominoes|"
        r"trivia|poker|yahtzee|monopoly|uno)( \w+){0,6} (is|are|keeps|kept|was) beating me",
        r"(it|battery) is (about|going) to die",
        r"drowning in (?!(grief|sadness|despair|sorrow))\w+",
        r"rather die than",
        r"kill (him|her|my \w+)\b.{0,15}\b(lol|haha|lmao|jk)",
        r"i could (kill|strangle|murder|throttle) (him|her|my \w+)",
        r"shot (myself|himself|herself) in the foot",
        r"(goodbye|bye) (\w+ ){0,2}until|(goodbye|bye) for now",
        r"cut(ting)? myself some slack",
        r"over my dead body",
        r"die on this hill",
        # Whether someone already took their usual dose: "dad forgets he already took his pills".
        r"(forgets|forgot|forgetting|remember|remembers|sure|unsure|know) (if |whether |that )?"
        r"(he|she|they|mom|dad) (already |just )?(took|taken|had)",
        r"hill (that )?(i am|i will|i would|we are|she is|he is) (going to |willing to )?die on",
        # Everyday hyperbole with its trivial "if": "mom will kill me if I forget her birthday"
        # (a threat with a real "if", "he will kill me if I tell anyone", stays).
        r"(will|would|is going to|going to) kill me if i (forget|forgot|miss|missed|am late|lose|"
        r"skip|burn|spill|break|eat|wear|cut my hair)\b",
        # Exercise as hyperbole: "the physical therapist is trying to kill him. he walked 40 feet".
        r"(physical therapist|therapist|pt|physio|trainer|exercises|workout|stairs) (is|are|was|"
        r"were) (trying to|going to) kill (him|her|me|them)",
        # Reading or studying about it: "an article on self-harm in teenage caregivers".
        r"(article|articles|book|books|podcast|documentary|study|studies|class|course|training|"
        r"webinar|lecture|research|paper|report|pamphlet|brochure|module|chapter) (on|about) "
        r"(\w+ )?(self harm|self harming|suicide|suicide prevention)",
        # A dying person's goodbyes, helped by their care team: "the chaplain helped mom write
        # goodbye notes for the grandkids".
        r"(chaplain|hospice|social worker|nurse|aide|volunteer|we|i) (\w+ ){0,2}(helped|help|"
        r"helping) (him|her|them|mom|dad|grandma|grandpa|my \w+) (write|record|make|with) (\w+ )?"
        r"goodbye (letters|notes|messages|videos|cards)",
        # Something else will feel empty: "the living room is going to feel so empty".
        r"(house|room|living room|bedroom|apartment|place|home|kitchen|table|bed|it) (\w+ ){0,3}"
        r"feel (so |very |really )?empty",
        r"(phone|battery|car|laptop|printer|tv|remote|charger|coffee maker|fridge|"
        r"washer|dryer) (died|is dead|was dead|just died|is (about|going) to die)",
        r"(would|will|is going to|going to) kill me if (he|she|they) (knew|knows|found out|finds "
        r"out|saw|sees|heard)",
        r"drowning in (\w+ )?(laundry|work|paperwork|bills|dishes|emails|forms|appointments)",
        r"beat me (at|in|to) \w+",
        r"(work|boss|job|school|my job|my boss) (will not|does not|never) let me",
        # Hyperbole about a purchase: "he'll kill me, I bought another plant". (A slip, "he'll
        # kill me, I forgot his beer", may be fear at home: it stays.)
        r"(kill|murder|strangle) me (\w+ ){0,2}(i|because i|for|that i) (just |already )?(bought|"
        r"ordered|spent|booked|signed (up|us up)|adopted)\b",
        r"(i will|i would|i am going to) (still )?be (humming|singing|hearing|whistling|dancing) "
        r"(\w+ ){0,3}at my (own )?funeral|late (to|for) my (own )?funeral",
        # Everyday nuisances one "can't take": the heat, the traffic, the leaf blower.
        r"(can not|could not) (do|take|stand|handle|deal with) (this|that|the|these|all this) "
        r"(\w+ )?(traffic|commute|drive|heat|humidity|weather|snow|rain|leaf blower|construction|"
        r"hold music|phone tree|paperwork|forms|printer|app|website|portal|waiting room|"
        r"parking)\b",
        # Dye misspelt as "die" is normalised to it: "she wants to dye her hair".
        r"die (my|her|his|their|your|the) (\w+ )?(hair|roots|beard|eggs|shirt|shirts|clothes|yarn)",
        # Where a dying person wants to die is end-of-life care, not a death wish.
        r"(he|she|they|mom|dad|grandma|grandpa|him|her|them) (\w+ ){0,3}(die|dying) (at home|in "
        r"(his|her|their) own (bed|home|house|room)|with dignity|in hospice)",
        # Someone else's medication schedule: "take all her pills at once at bedtime", unless
        # death follows ("... and not wake up").
        rf"(his|her|their|moms|dads) (\w+ )?{_MEANS}( and (his|her|their) (\w+ )?{_MEANS})? "
        r"(at once |together )?((at|before|after|with) (bedtime|breakfast|dinner|lunch|supper|"
        r"meals|night)|in the (morning|evening))\b(?!.{0,40}\b(wake up|die|dying|dead|end it|"
        r"kill|for good|goodbye)\b)",
        # Words the writer reports and explains in the same breath: "when I said I want to
        # disappear I meant to a beach" (but not "I meant it", "I meant to send it to her").
        r"when i (said|wrote|texted|told you)( that)? (\w+ ){1,20}?i (only |just |actually |"
        rf"really )?meant\b{_NOT_MEANT_IT}",
        # A screening question reported with its answer: "asked if I've had thoughts of hurting
        # myself and honestly no".
        r"(asked|asks|asking|ask) (me )?(if|whether) (\w+ ){1,15}?((and|but) (honestly |"
        r"truthfully |really |the answer is )?|(and |but )?i (could |can )?(honestly |truthfully "
        r")?(say|said|told (him|her|them)|answered) )(no|nope)\b(?! (one|body|longer|more|way|"
        r"matter|idea|reason|point|hope|future)\b)(?!.{0,30}\b(lie|lied|lying|not true)\b)",
    )
)
_NEGATORS = frozenset({"not", "never", "no", "nor", "without", "nobody", "nope", "zero"})
# "can not stop thinking about …" negates the stopping, not the thought.
# "she doesn't know I won't be alive", "nobody caught on": what is not known is still said.
_NEGATION_BREAKERS = frozenset(
    {"stop", "help", "quit", "shake", "get", "keep", "know", "knows", "idea", "caught", "tell"}
)
_THIRD_PARTY = frozenset(
    {
        "he",
        "she",
        "they",
        "him",
        "her",
        "mom",
        "mother",
        "mum",
        "dad",
        "father",
        "husband",
        "wife",
        "partner",
        "grandma",
        "grandpa",
        "grandmother",
        "grandfather",
        "brother",
        "sister",
        "aunt",
        "uncle",
        "patient",
        "friend",
        "son",
        "daughter",
    }
)
_FIRST_PERSON = frozenset({"i", "me", "my", "myself", "we"})
# Subjects of a story, show or book: their words are the plot's, nobody's risk.
_FICTION = frozenset(
    {
        "writers",
        "writer",
        "author",
        "character",
        "characters",
        "show",
        "movie",
        "film",
        "novel",
        "book",
        "villain",
        "narrator",
    }
)
# What may stand between a show or book and the phrase it tells ("decided to", "wants to").
_PLOT_VERBS = frozenset(
    {
        "really",
        "just",
        "finally",
        "actually",
        "decided",
        "decides",
        "wants",
        "wanted",
        "tries",
        "tried",
        "to",
        "is",
        "was",
        "going",
        "about",
        "then",
    }
)
# Words that carry a negation on to the phrase they govern: "does not have a plan to hurt
# himself", "have not been thinking about ending it".
_NEGATION_CARRIERS = frozenset(
    {
        "have",
        "has",
        "had",
        "a",
        "an",
        "any",
        "plan",
        "plans",
        "intention",
        "intent",
        "thought",
        "thoughts",
        "urge",
        "urges",
        "desire",
        "want",
        "wants",
        "to",
        "of",
        "about",
        "going",
        "planning",
        "trying",
        "thinking",
        "been",
        "ever",
        "really",
        "real",
    }
)


def _negated(before: list[str], after: str) -> bool:
    window = before[-3:]
    for index, word in enumerate(window):
        following = window[index + 1] if index + 1 < len(window) else ""
        if word in _NEGATORS and following not in _NEGATION_BREAKERS:
            return True
    # Further back only through words that pass the negation on ("does not have a plan to hurt
    # himself"), and not when a "but" takes it back ("never had a plan to end it but ...").
    if " but " in f" {after} ":
        return False
    for word in reversed(before[-8:]):
        if word in _NEGATORS:
            return True
        if word not in _NEGATION_CARRIERS:
            return False
    return False


def _subject(before: list[str]) -> str | None:
    """The nearest subject before a phrase: "speaker", "other" (another person), or "fiction"
    (a show or book whose plot the phrase tells: "the writers really decided to end it all")."""
    between: list[str] = []
    for word in reversed(before[-6:]):
        if word in _FIRST_PERSON:
            return "speaker"
        if word in _THIRD_PARTY:
            return "other"
        if word in _FICTION and _PLOT_VERBS.issuperset(between):
            return "fiction"
        between.append(word)
    return None


# Words in quotation marks that the message then explains away: '"I can't take this" was about
# the heat', '"I won't be here next week" = I'm on vacation', 'she took "all the pills"... turns
# out she meant the evening ones'. Quoted words left standing (mom said "just let me die") count.
_QUOTED = re.compile(r'["\u201c\u201d]([^"\u201c\u201d]{1,200})["\u201c\u201d]')
_EXPLAINED_AWAY = re.compile(
    r"^((it|that) |(text|message|comment|post|line|remark|status|one) )?(was|is|were) "
    r"(just |only |all |actually |really )?(about(?! (\w+ ){0,2}"
    r"(ago|minutes?|hours?|days?|weeks?|months?|years?)\b)|a joke|sarcasm|autocorrect)\b"
    r"|^(just |only )?about \w+ing\b"
    r"|^(means|meant|meaning|as in)\b(?! (it|exactly|what)\b)"
    rf"|^i (only |just |actually |really )?meant\b{_NOT_MEANT_IT}"
    r"|\bturns out (she|he|they|mom|dad) (only |just |actually |really )?meant\b(?! it\b)"
)
# What the writer says they were joking about, up to the end of the clause: "I was joking when I
# said I'd jump off a bridge, it was the VA forms" ("I wasn't joking when I said ..." stands).
_JOKED_ABOUT = re.compile(
    r"(?<!not )(?<!n't )(?<!n\u2019t )(?<!never )\b(joking|kidding) when i (said|wrote|texted|"
    r"told you)( that)?[^.,;!?\n]*",
    re.IGNORECASE,
)


# A question the writer puts and answers no at once: "Giving away my things? No, I'm doing the
# KonMari thing". Only the question goes; what follows the "no" is read as usual.
_ANSWERED_NO = re.compile(
    r"[^.?!\n]{3,120}\?+\s*(?=(no|nope|nah|not at all|lol no|haha no)\b[,.!]?(?! (one|body|"
    r"longer|more|way|matter|idea|reason|point|hope|future)\b))",
    re.IGNORECASE,
)


def _without_retracted_words(text: str) -> str:
    def replace(quoted: re.Match[str]) -> str:
        after = normal_words(text[quoted.end() :].replace("=", " means "))
        return " ~ " if _EXPLAINED_AWAY.search(after) else quoted.group(0)

    return _ANSWERED_NO.sub(" ~ ", _JOKED_ABOUT.sub(" ~ ", _QUOTED.sub(replace, text)))


def _blank_idioms(sentence: str) -> str:
    for idiom in _IDIOMS:
        sentence = idiom.sub(" ~ ", sentence)
    return sentence


def _blank_idioms_across(sentences: list[str]) -> list[str]:
    """Idioms blanked over sentences an ellipsis joins ("this is goodbye... until tomorrow"):
    each blanked word stays one "~" so that the sentences can be cut apart again."""
    if len(sentences) == 1:
        return [_blank_idioms(sentences[0])]
    words = " ".join(sentences)
    for idiom in _IDIOMS:
        words = idiom.sub(lambda found: " ".join("~" for _ in found.group(0).split()), words)
    blanked, start = [], 0
    for sentence in sentences:
        end = start + len(sentence.split())
        blanked.append(re.sub(r"~( ~)+", "~", " ".join(words.split()[start:end])))
        start = end
    return blanked


def scan(text: str) -> tuple[LexiconHit, ...]:
    """Every category the message's words fall into, at most one hit per category."""
    groups = normal_sentence_groups(_without_retracted_words(text))
    sentences = [sentence for group in groups for sentence in _blank_idioms_across(group)]
    # Each sentence on its own (so "$" anchors and the subject look-back stay in it), then the
    # whole message, so a phrase broken by punctuation ("I want to... die") still matches.
    # (A message of one sentence is its own whole: it is read once.)
    candidates = sentences if len(sentences) == 1 else [*sentences, " ".join(sentences)]
    whole = candidates[-1] if len(candidates) > 1 else None
    hits: dict[Category, LexiconHit] = {}
    for rule in _RULES:
        if whole is not None and rule.whole_first and rule.pattern.search(whole) is None:
            continue
        for candidate in candidates:
            hit = _match(rule, candidate)
            if hit is not None:
                if hit.category not in hits or hit.severity is Severity.HIGH:
                    hits[hit.category] = hit
                break
    return tuple(hits.values())


def _match(rule: _Rule, candidate: str) -> LexiconHit | None:
    for found in rule.pattern.finditer(candidate):
        before = candidate[: found.start()].split()
        if _negated(before, candidate[found.end() :]):
            continue
        if rule.about_speaker:
            subject = _subject(before)
            if subject == "fiction":
                continue
            if subject == "other":
                return LexiconHit(Category.CONCERN_FOR_OTHER, Severity.MEDIUM)
        return LexiconHit(rule.category, rule.severity, rule.domestic_violence)
    return None
