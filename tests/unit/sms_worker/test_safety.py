"""The safety screen on curated messages it must always get right, through both layers.

These are pinned examples (the issue's own reports among them), not the measure of quality:
`make bench` (bench/bench_safety.py) measures the layers on the held-out corpus.
"""

from __future__ import annotations

import json
import os

import pytest

from services.sms_worker.safety import corpus
from services.sms_worker.safety.lexicon import Category, Severity, scan
from services.sms_worker.safety.revocation import Revocation, read_revocation
from services.sms_worker.safety.screen import default_screen
from services.sms_worker.safety.text import normal_words

MUST_CATCH_HIGH = [
    "I want to kill myself",
    "I've been thinking about ending it all",
    "my wife's pills are right here and I keep thinking I could take all of them",
    "nobody would miss me if I was gone",
    "everyone would be better off without me",
    "I can't go on like this, I just want to end it",
    "he'll kill me if I tell anyone",
    "kms",
    "honestly thinking about unaliving myself",
    "i just wanna end it",
    "I wish I was dead",
    "I don't want to wake up tomorrow",
    "I have a plan to end my life",
    "I've been cutting myself again",
    "sometimes I want to smother him",
    "my husband hits me",
    "I'm not safe at home",
    "I'm suicidal",
    "wrote goodbye letters to my kids",
]
MUST_CATCH = [
    *MUST_CATCH_HIGH,
    "cant do this anymore",
    "I feel completely hopeless",
    "I'm such a burden to everyone",
    "my dad says he wants to die",
    "mom keeps talking about killing herself",
]
MUST_NOT_CATCH = [
    "the laundry is killing me",
    "I'd kill for a nap",
    "dying to see the grandkids this weekend",
    "my phone died, sorry",
    "hospice says mom is actively dying, we're keeping her comfortable",
    "we signed the DNR today",
    "give her all the pills in the morning slot of the organiser",
    "dad's cancer has spread to his bones",
    "I'm exhausted but we got through the day",
    "I'd never hurt myself, don't worry",
    "hi",
    "Ana",
    "3",
    "skip",
    "",
]
# The lexicon on its own (the model reads these too, and is measured elsewhere): hyperbole,
# reported and retracted words, questions answered no, someone else's medication and estate.
LEXICON_QUIET = [
    "my sister is going to kill me, I bought mom a third recliner",
    "she'll murder me when she sees I moved her recipe box",
    "if looks could kill, the new aide would be in trouble. mom hates her",
    "I could kill him, he ate the last of mom's pudding",
    "the nurse asked whether I've had thoughts of ending my life and I said no, just tired",
    "I can't take this heat any more, the AC at mom's is out",
    "I can't do this commute anymore, looking for a facility closer to home",
    "the pharmacy says they can't take it back once the seal is broken",
    "dad wants to take all his pills at once at breakfast instead of spreading them out",
    "dad keeps his heart pills and his water pills together in the morning",
    "she wants to die at home, not in the ICU, and hospice is on board",
    "grandma wants to dye her hair purple for the reunion",
    'when I texted "I can\'t go on" it was about the stairs at the new apartment, not me',
    'the "kill me now" was about the three hour DMV line lol',
    "when I said I wanted to vanish I meant a weekend away with no phone",
    "I was kidding when I said I'd drive off a bridge, it's just the paperwork",
    "the show's main character wants to die in the finale and I cried",
    "I don't have any thoughts of killing myself, just exhausted",
    "I have not been thinking about ending it, I'm just tired of the insurance calls",
    "I'm giving away my late wife's sewing things to her church group",
    "we keep his passwords and bank list in the safe in case something happens to him",
    "mom set aside her pearls for my daughter for after she's gone",
    "this is goodbye... until Monday, sister has mom for the weekend",
    "I'll be hearing that jingle at my own funeral",
    "taking myself out to dinner tonight, first time in months",
    "I'm on the bridge every morning now, her new place is on the other side of town",
    "there are enough pain pills to last him until the refill on Friday",
    "I'll pay for the ramp myself if the insurance won't",
    "finished my obituary for grandpa, the funeral home needs it by noon",
    "some days I want to disappear to a beach for a week",
    "dad will kill me if I miss his game on Sunday",
    "her physical therapist is trying to kill her, three sets of squats today",
    "listened to a podcast about suicide prevention on the drive, good stuff",
    "the hospice nurse helped dad record goodbye videos for the grandkids",
    "the house is going to feel so empty without her",
    "this parking ticket is the hill I'm willing to die on",
    "not sure if mom already took her pills, the organizer is half empty",
    "zero plans to hurt myself, just need a nap",
    "Thinking about ending it all? Nope, just my phone plan",
    "the alarm keeps going off in the garage at night",
    "dad went over the railing of his bed again last night, the nurse is adding a mat",
    "I'm using dad's rifle for deer season with my son",
    "hoping this apartment is the one for mom",
    "it took most of the afternoon to sort his pills",
    "I took a lot of photos at mom's party",
    "the car is running in the driveway so it's warm for dad",
    "before I hurt her feelings, how do I tell mom she can't drive",
    "the urge to cut back on sugar is real since dad's diagnosis",
    "how tall does the grab bar need to be for dad",
    "praying for the end of her suffering, hospice says days",
    "I give him breakfast, then the pills, then his shower",
    "practicing with the gait belt for transfers, the PT says I'm getting better",
    "bought rope for the tomato plants, not for the fence",
    "I'm done for the day, the aide has him",
    "wrote up notes for whoever comes after me at work",
    "I hope nothing happens to me on the drive, the roads are icy",
    "we want to throw him a party for his 80th",
    "turned off his bed alarm because it kept going off for no reason",
    "when mom goes to respite i go too, we booked the same hotel",
    "the old pistol is in my lap while I clean it",
    "she is in the bathroom with the razor shaving her legs",
    "she swallowed most of her pills today, only spat out one",
    "I texted her sorry I was late and she's not answering, probably asleep",
    "thinking about turning the heat down, the bill is huge",
    "how high does the balcony railing need to be for code",
    "the dog is staying with my sister for good now, mom is allergic",
    "I hit the wall at mile 20 until the gel kicked in",
    "left him at day care on purpose early so I could nap",
    "pushed him in the wheelchair so hard up the ramp my arms hurt",
    "ordered tape for the move. don't ask how many boxes",
    "I practiced with the belt for his transfers",
    "the pharmacy is right after the bridge, then the tracks",
    "going off the deck into the pool with the grandkids",
    "i'm done for real with that pharmacy, switching to cvs",
    "there's no later for this sale, it ends tonight",
]
# ... and what those rules must leave standing.
LEXICON_FINDS = [
    "I said I want to die and I meant it",
    "\"I can't go on\" is what I keep telling myself and it's true",
    'my brother texted "i want to die" then "jk" and I\'m worried',
    "I'm not kidding, I want to kill myself",
    "she thinks I'm joking but I want to die",
    "kidding aside, I want to die",
    "my husband said he's going to kill me when he gets home",
    "the doctor asked if I had thoughts of hurting myself and I said yes",
    "I'm taking myself out tonight",
    "I don't know if I have a plan to end my life but I think about it every day",
    "giving away my books and my cat, I won't need them",
    "when I'm gone my passwords are in the blue folder",
    "this is goodbye... I love you all",
    "I'm going to take all my pills at once tonight",
    "I was joking when I said I was fine, I want to die",
    "I wasn't joking when I said I'd jump off a bridge",
    'I texted "I want to die" to my sister, I meant to send it to my therapist',
    '"I\'m going to end it" was about a week ago and I still feel that way',
    "I want to die. no kidding.",
    "the nurse asked if I'd thought about suicide and I said no but that was a lie",
    "I've never had a plan to kill myself but I think about it a lot",
    "watched a movie last night, honestly want to die",
    "my husband will kill me, I forgot to pick up his beer",
    "I'm on the bridge right now and I'm going to jump",
    "he will kill me if I tell anyone what happened",
    "there are enough pills in the cabinet to kill me",
    "I want to disappear and never come back",
    "Am I okay? No. I want to die",
    "you'll pay for this, he said, and then he hit me",
    # Means, plans and preparation told as logistics, hedged wishes, acts under way.
    "the old rifle in the attic is all I think about lately, and not for hunting",
    "after the kids go back to school, then it's the bridge.",
    "once the aide starts full time I'm using dad's shotgun",
    "I'm walking off the top of the parking deck after the funeral",
    "if a bus hit me on the way to the pharmacy I'd honestly be relieved",
    "every night I pray I go before my husband, and soon",
    "found the dog a good home for when I'm no longer here",
    "nobody should have to sort my stuff after me",
    "she texted sorry and goodbye and now she's not answering her phone",
    "been burning myself with a lighter again when the kids are asleep",
    "I don't trust myself around dad tonight, someone please come",
    "the garage door's down and the van is running",
    "how many floors does a parking garage need to be to actually work",
    "grandpa's hunting knife is in my purse now. keeping it for me",
    "ordered a length of rope online. not for the garden, you can guess",
    "after the holidays i'm done. permanently",
    "i practiced with the belt in the closet last night",
    "kind of wish i was the one in the hospice bed",
    "I keep picturing letting go of her wheelchair on the hill",
    "my brother is sitting on the train tracks and won't answer",
]
# A show, a game, a routine update, a screening answered no: not crisis language.
LEXICON_QUIET += [
    "we binged a domestic violence documentary series this weekend, so well made",
    "grandma is beating me at scrabble again, she's sharp as ever",
    "everyone would be better off if we ate earlier, dad gets cranky after 6",
    "switched my beneficiary after we got married, one more form done",
    "the intake nurse asked if I'd had thoughts of ending my life and I could honestly say no",
]
LOOKALIKES = [
    "please don't ever stop texting me",
    "my brother needs to stop texting me",
    "how do I opt out of hospice care",
    "stop sending photos of the rash to the nurse",
    "unsubscribe me from the pharmacy newsletter",
    "I can't stop crying",
    "I quit my job to take care of dad",
    "I need to cancel mom's appointment",
    "don't remove me, I still need these",
    "my sister keeps telling me to stop worrying",
    "my son keeps saying I should unsubscribe from these, but I won't",
    "unsubscribe? me? never",
    "we thought about cancelling the texts last winter but decided against it",
    "I'm done with the school portal messages, they never say anything",
    "my lawyer asked her to cease all contact",
    "don't send me anything political",
    # Kept, or only wondered about: nearly unsubscribing, a sister's say-so overruled, asking
    # how it works for some other day.
    "nearly hit unsubscribe this morning, glad I didn't, keep them coming",
    "if my daughter says to cancel me, ignore her. I want to stay",
    "not now, but for future reference, what is the way to unsubscribe?",
    "I don't want fewer texts, I want more of them",
]
REVOCATIONS = [
    "stop texting me",
    "please remove me from your list",
    "unsubscribe me please",
    "I don't want these messages anymore",
    "take me off this list",
    "do not text me again",
    "please turn these texts off",
    "kindly cease all text communication with this number",
    "I'd like these texts to stop now",
    "not interested, please stop texting me",
    "My sister moved into a care facility. Please unsubscribe me.",
    "stop these texts every single day, unsubscribe me",
    "how do I get off this list? I want out",
    "you don't have my permission to text me any more",
    # Typed by someone else on the caregiver's phone, for them; asked as a favour or a question.
    "this is her son typing, mom wants these texts to stop, she can't read them anymore",
    "I'm replying for my dad on his phone. he wants off the list",
    "could I be removed from the program please?",
    "would you mind deleting my number",
    "is there a way you can stop texting me altogether? I would like that",
    "I'd like my number removed and the reminders discontinued",
    "cancel my sign up please",
]


@pytest.fixture(scope="module")
def screen() -> object:
    return default_screen()


@pytest.mark.parametrize("text", MUST_CATCH_HIGH)
def test_high_severity_is_never_missed(text: str) -> None:
    finding = default_screen().read(text).crisis
    assert finding is not None
    assert finding.severity is Severity.HIGH


@pytest.mark.parametrize("text", MUST_CATCH)
def test_crisis_language_is_caught(text: str) -> None:
    assert default_screen().read(text).crisis is not None


@pytest.mark.parametrize("text", MUST_NOT_CATCH)
def test_ordinary_caregiver_talk_stays_quiet(text: str) -> None:
    assert default_screen().read(text).crisis is None


@pytest.mark.parametrize("text", LEXICON_QUIET)
def test_the_lexicon_reads_hyperbole_and_retracted_words_as_nothing(text: str) -> None:
    assert scan(text) == ()


@pytest.mark.parametrize("text", LEXICON_FINDS)
def test_the_lexicon_still_finds_what_is_not_taken_back(text: str) -> None:
    assert scan(text) != ()


def test_domestic_violence_adds_the_hotline() -> None:
    finding = default_screen().read("he'll kill me if I tell anyone")
    assert finding.crisis is not None
    assert finding.crisis.domestic_violence


def test_a_care_recipients_death_wish_is_a_concern_for_them() -> None:
    hits = scan("mom says she wants to die")
    assert [hit.category for hit in hits] == [Category.CONCERN_FOR_OTHER]
    assert hits[0].severity is Severity.MEDIUM


@pytest.mark.parametrize("text", LOOKALIKES)
def test_a_lookalike_never_opts_out(text: str) -> None:
    assert default_screen().read(text).revocation is not Revocation.CLEAR


@pytest.mark.parametrize("text", REVOCATIONS)
def test_a_clear_request_opts_out(text: str) -> None:
    assert default_screen().read(text).revocation is Revocation.CLEAR


@pytest.mark.parametrize(
    "text", ["please don't ever stop texting me", "my brother needs to stop texting me"]
)
def test_the_words_rule_out_what_embeddings_cannot_see(text: str) -> None:
    assert read_revocation(text) is Revocation.NOT_US


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("I can't do this anymore", "i can not do this any more"),
        ("he'll kill me", "he will kill me"),
        ("dont wanna b here", "do not want to be here"),
        ("kms tn", "kill myself tonight"),
    ],
)
def test_spelling_and_shorthand_have_one_normal_form(text: str, words: str) -> None:
    assert normal_words(text) == words


def test_the_corpora_meet_their_sizes_and_splits_do_not_overlap() -> None:
    train, heldout = corpus.load("train"), corpus.load("heldout")
    both = train + heldout
    assert sum(e.crisis is not None and e.kind == "crisis" for e in both) >= 400
    assert sum(e.kind == "everyday" for e in both) >= 800
    assert sum(e.kind == "revocation" for e in both) >= 150
    assert sum(e.kind == "lookalike" for e in both) >= 300
    # Short answers ("5", "skip") are bound to recur; sentences must not.
    seen = {normal_words(e.text) for e in train}
    shared = [e.text for e in heldout if normal_words(e.text) in seen]
    assert not [text for text in shared if len(text.split()) >= 4]


def test_the_corpora_hold_no_phone_numbers_or_addresses() -> None:
    for example in corpus.load("train") + corpus.load("heldout"):
        digits = sum(ch.isdigit() for ch in example.text)
        assert digits < 10, json.dumps(example.text)
        assert "@" not in example.text


def test_the_committed_heads_were_fitted_on_this_train_split_and_this_model() -> None:
    """The quick guard in every run: the corpus and model digests `train.py` recorded in
    head.json are today's (the full refit below runs in `make soak`)."""
    from services.sms_worker.safety import train
    from services.sms_worker.safety.encoder import MODEL_SHA256
    from services.sms_worker.safety.model_digests import CRISIS_MODEL_SHA256
    from services.sms_worker.safety.semantic import HEAD_PATH

    head = json.loads(HEAD_PATH.read_text())
    assert head["train_corpus_sha256"] == train.corpus_digest()
    assert head["model_sha256"] == MODEL_SHA256
    assert head["crisis_model_sha256"] == CRISIS_MODEL_SHA256
    # The crisis threshold's out-of-round scores are for this train split too.
    assert json.loads(train.OOF_PATH.read_text())["train_corpus_sha256"] == train.corpus_digest()


@pytest.mark.skipif(
    os.environ.get("SAFETY_RETRAIN_CHECK") != "1",
    reason="refits every head (about four minutes on 2 cores): make soak runs it",
)
@pytest.mark.timeout(900)  # encodes and fits the whole train split: a few minutes on 2 cores
def test_training_reproduces_the_committed_heads_bit_for_bit() -> None:
    from services.sms_worker.safety import train

    assert train.main(["--check"]) == 0
