"""The inbound rules in their fixed order, as a pure function: keywords, crisis, rate limit,
subscription gate, check-ins, onboarding, assessments, responder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.sms_worker.domain import replies
from services.sms_worker.domain.assessments import AssessmentSession, Band, question_text
from services.sms_worker.domain.inbound import (
    Access,
    CrisisAlert,
    Decision,
    Facts,
    InboundMessage,
    OptOutChange,
    Outgoing,
    Policy,
    decide,
)
from services.sms_worker.domain.instruments import BSFC_S, EMA, Zone
from services.sms_worker.domain.onboarding import Field, OnboardingState
from services.sms_worker.domain.profile import Profile, changed_fields
from services.sms_worker.safety.lexicon import Severity
from services.sms_worker.safety.screen import default_screen

AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 10:00 in New York
POLICY = Policy(signup_url="https://signup.example/", billing_url="https://billing.example/")
NEW = Profile(user_id="u1", timezone="America/New_York")
ACTIVE = Profile(
    user_id="u1",
    timezone="America/New_York",
    journey_phase="active",
    first_name="Ana",
    relationship="mom",
    care_recipient_name="Rose",
    zip_code="02139",
    onboarding=OnboardingState(field=Field.ZIP_CODE, asked=True),
)
OPTED_OUT = ACTIVE.model_copy(
    update={"sms_opt_out": True, "opted_out_at": AT, "opt_out_changed_at": AT}
)
QUIET = Facts(inbound_last_day=1)


def run(
    profile: Profile,
    text: str,
    *,
    facts: Facts = QUIET,
    at: datetime = AT,
    event_id: str = "e1",
    twilio: str | None = None,
) -> Decision:
    message = InboundMessage(
        event_id, text, at, safety=default_screen().read(text), twilio_opt_out=twilio
    )
    return decide(profile, message, facts, POLICY)


def bodies(decision: Decision) -> list[str]:
    return [o.body for o in decision.outgoing]


# --- onboarding ---------------------------------------------------------------------------------


def test_a_new_number_saying_hi_is_asked_its_name() -> None:
    decision = run(NEW, "hi")
    assert decision.route == "onboarding"
    assert decision.outgoing == (Outgoing("reply:e1", "onboarding", replies.WELCOME),)
    assert decision.profile.onboarding == OnboardingState(asked=True)
    assert decision.profile.last_contact_at == AT


def test_four_answers_complete_onboarding_and_offer_the_baseline() -> None:
    profile = run(NEW, "hi").profile
    routes = []
    for number, text in enumerate(["I'm Ana", "my mother", "Rose", "my zip is 94110"]):
        decision = run(profile, text, event_id=f"e{number}")
        routes.append(decision.route)
        profile = decision.profile
    assert routes == ["onboarding"] * 3 + ["onboarding_complete"]
    assert (profile.first_name, profile.relationship, profile.care_recipient_name) == (
        "Ana",
        "mom",
        "Rose",
    )
    assert profile.zip_code == "94110"
    assert profile.timezone == "America/Los_Angeles"
    assert profile.journey_phase == "active"
    assert profile.assessment_offer == BSFC_S.id
    assert decision.outgoing[0].body == replies.onboarding_complete(
        "Ana", replies.offer_assessment(BSFC_S.minutes)
    )


def test_unknown_zip_keeps_the_default_zone() -> None:
    profile = NEW.model_copy(
        update={"onboarding": OnboardingState(field=Field.ZIP_CODE, asked=True)}
    )
    decision = run(profile, "96201")
    assert decision.route == "onboarding_complete"
    assert decision.profile.timezone == "America/New_York"


def test_onboarding_cooldown_hands_over_to_the_responder() -> None:
    resting = NEW.model_copy(
        update={"onboarding": OnboardingState(cooldown_until=AT + timedelta(hours=1))}
    )
    decision = run(resting, "how do I deal with this")
    assert decision.route == "responder"
    assert decision.respond


# --- compliance keywords ------------------------------------------------------------------------


def test_stop_opts_out_with_one_compliance_confirmation() -> None:
    decision = run(ACTIVE, "STOP")
    assert decision.route == "opt_out"
    assert decision.outgoing == (
        Outgoing("opt-out:e1", "compliance", replies.OPT_OUT_CONFIRMATION, compliance=True),
    )
    assert decision.opt_out == OptOutChange(True, "keyword")
    assert decision.profile.sms_opt_out
    assert decision.profile.opted_out_at == AT
    assert decision.profile.opt_out_changed_at == AT


@pytest.mark.parametrize("text", ["hello", "HELP", "I need to talk", "DAILY", "CHECKIN", "STOP"])
def test_nothing_is_sent_while_opted_out(text: str) -> None:
    decision = run(OPTED_OUT, text, event_id="e2")
    assert decision.outgoing == ()
    assert decision.opt_out is None
    assert decision.profile.sms_opt_out


@pytest.mark.parametrize("text", ["START", "unstop", "Yes"])
def test_opt_in_with_confirmation(text: str) -> None:
    decision = run(OPTED_OUT, text, event_id="e3")
    assert decision.route == "opt_in"
    assert decision.outgoing == (
        Outgoing("opt-in:e3", "compliance", replies.OPT_IN_CONFIRMATION, compliance=True),
    )
    assert decision.opt_out == OptOutChange(False, "keyword")
    assert not decision.profile.sms_opt_out
    assert decision.profile.opted_out_at is None


def test_free_text_revocation_is_recorded_as_such() -> None:
    decision = run(ACTIVE, "please stop texting me")
    assert decision.opt_out == OptOutChange(True, "free_text")


def test_twilio_classification_wins_even_inside_an_assessment() -> None:
    in_assessment = ACTIVE.model_copy(
        update={"assessment": AssessmentSession(instrument="ema", session_id="s", started_at=AT)}
    )
    assert run(in_assessment, "cancel").route == "assessment_cancelled"
    decision = run(in_assessment, "cancel", twilio="STOP")
    assert decision.route == "opt_out"
    assert decision.opt_out == OptOutChange(True, "twilio")
    back = run(decision.profile, "start", twilio="START", event_id="e2")
    assert back.opt_out == OptOutChange(False, "twilio")


def test_help_text_and_sentences_that_only_contain_keywords() -> None:
    assert bodies(run(ACTIVE, "help")) == [replies.HELP_TEXT]
    decision = run(ACTIVE, "Can you help me cancel my appointment?")
    assert decision.route == "responder"
    assert decision.opt_out is None


# --- crisis ---------------------------------------------------------------------------------------


def test_high_crisis_is_answered_over_the_rate_limit_and_without_access() -> None:
    facts = Facts(inbound_last_day=500, access=Access(has_access=False, status="canceled"))
    profile = ACTIVE.model_copy(
        update={"crisis_followup_count": 4, "rate_limit_notice_on": "2026-03-02"}
    )
    decision = run(profile, "I want to end my life", facts=facts)
    assert decision.route == "crisis"
    (crisis,) = decision.outgoing
    assert crisis.key == "crisis:e1"
    assert crisis.kind == "crisis"
    assert "988" in crisis.body
    assert "741741" in crisis.body
    assert "911" in crisis.body
    assert len(crisis.body) <= 160
    assert decision.profile.last_crisis_event_at == AT
    assert decision.profile.crisis_followup_count == 0
    assert decision.crises == (CrisisAlert(Severity.HIGH, "message"),)
    assert decision.rate_exempt


def test_domestic_violence_variant_adds_the_hotline() -> None:
    (crisis,) = run(ACTIVE, "my husband hits me").outgoing
    assert "1-800-799-7233" in crisis.body
    assert "988" in crisis.body
    assert len(crisis.body) <= 160


def test_crisis_comes_before_onboarding_and_assessments() -> None:
    assert run(NEW, "I want to die").route == "crisis"
    in_assessment = ACTIVE.model_copy(
        update={"assessment": AssessmentSession(instrument="ema", session_id="s", started_at=AT)}
    )
    decision = run(in_assessment, "I want to die")
    assert decision.route == "crisis"
    assert decision.profile.assessment == in_assessment.assessment


def test_crisis_while_opted_out_is_recorded_for_a_person_but_not_answered() -> None:
    decision = run(OPTED_OUT, "I want to kill myself", event_id="e2")
    assert decision.outgoing == ()
    assert decision.crises == (CrisisAlert(Severity.HIGH, "message", needs_human_follow_up=True),)
    assert decision.profile.last_crisis_event_at == AT


def test_medium_crisis_gets_a_gentle_responder_reply_past_limits() -> None:
    facts = Facts(inbound_last_day=100, access=Access(has_access=False))
    decision = run(ACTIVE, "I can't cope anymore", facts=facts)
    assert decision.route == "responder"
    assert decision.crisis_severity is Severity.MEDIUM
    assert decision.crises == (CrisisAlert(Severity.MEDIUM, "message"),)
    assert decision.profile.last_crisis_event_at is None  # no cascade for medium
    assert decision.rate_exempt


# --- rate limit and subscription gate -------------------------------------------------------------


def test_thirty_messages_a_day_then_one_notice_then_silence() -> None:
    assert run(ACTIVE, "hello", facts=Facts(30)).route == "responder"
    over = run(ACTIVE, "hello", facts=Facts(31))
    assert over.route == "rate_limited"
    assert over.outgoing == (
        Outgoing("rate-limit-notice:u1:2026-03-02", "rate_limit_notice", replies.RATE_LIMIT_NOTICE),
    )
    assert over.profile.rate_limit_notice_on == "2026-03-02"
    again = run(over.profile, "hello?", facts=Facts(32), event_id="e2")
    assert (again.route, again.outgoing) == ("rate_limited", ())
    next_day = run(over.profile, "hi", facts=Facts(31), at=AT + timedelta(days=1))
    assert next_day.outgoing[0].key == "rate-limit-notice:u1:2026-03-03"


def test_notice_day_is_the_users_local_day() -> None:
    late_evening_in_new_york = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
    decision = run(ACTIVE, "hello", facts=Facts(31), at=late_evening_in_new_york)
    assert decision.profile.rate_limit_notice_on == "2026-03-02"


@pytest.mark.parametrize(
    ("access", "expected"),
    [
        (
            Access(False),
            replies.subscription_gate(
                None, signup_url=POLICY.signup_url, billing_url=POLICY.billing_url
            ),
        ),
        (
            Access(False, "unpaid"),
            replies.subscription_gate(
                "unpaid", signup_url=POLICY.signup_url, billing_url=POLICY.billing_url
            ),
        ),
        (
            Access(False, "canceled"),
            replies.subscription_gate(
                "canceled", signup_url=POLICY.signup_url, billing_url=POLICY.billing_url
            ),
        ),
    ],
)
def test_gate_message_by_status_once_a_day(access: Access, expected: str) -> None:
    decision = run(ACTIVE, "hello", facts=Facts(1, access))
    assert decision.route == "no_access"
    assert decision.outgoing == (
        Outgoing("subscription-gate:u1:2026-03-02", "subscription_gate", expected),
    )
    again = run(decision.profile, "hello", facts=Facts(2, access), event_id="e2")
    assert (again.route, again.outgoing) == ("no_access", ())


def test_gate_passes_with_access_or_when_disabled() -> None:
    assert run(ACTIVE, "hello", facts=Facts(1, Access(True, "past_due"))).route == "responder"
    assert run(ACTIVE, "hello", facts=Facts(1, None)).route == "responder"


def test_gate_messages_name_the_right_action() -> None:
    urls = {"signup_url": "https://s", "billing_url": "https://b"}
    assert "https://b" in replies.subscription_gate("past_due", **urls)
    assert "Resubscribe" in replies.subscription_gate("canceled", **urls)
    assert "Start your subscription" in replies.subscription_gate(None, **urls)


# --- check-ins ------------------------------------------------------------------------------------


def test_checkin_keywords() -> None:
    assert run(ACTIVE, "DAILY").profile.checkin_preference == "daily"
    assert run(ACTIVE, "weekly").profile.checkin_preference == "weekly"
    paused = run(ACTIVE, "PAUSE").profile
    assert paused.snooze_until == AT + timedelta(days=7)
    assert run(paused, "RESUME").profile.snooze_until is None


# --- assessments ----------------------------------------------------------------------------------


def test_baseline_offer_accepted_with_yes_or_dropped_by_anything_else() -> None:
    offered = ACTIVE.model_copy(update={"assessment_offer": BSFC_S.id})
    started = run(offered, "Yes!")
    assert started.route == "assessment_started"
    assert started.profile.assessment is not None
    assert started.profile.assessment.instrument == BSFC_S.id
    assert started.profile.assessment_offer is None
    assert bodies(started) == [question_text(BSFC_S, 0)]
    declined = run(offered, "not now, busy day")
    assert declined.route == "responder"
    assert declined.profile.assessment_offer is None


def _complete(profile: Profile, keyword: str, answers: list[str]) -> list[Decision]:
    decisions = [run(profile, keyword, event_id="start")]
    for number, text in enumerate(answers):
        decisions.append(run(decisions[-1].profile, text, event_id=f"a{number}"))
    return decisions


def test_full_ema_session_updates_score_band_and_zones() -> None:
    decisions = _complete(ACTIVE, "CHECKIN", ["2", "4", "2"])
    final = decisions[-1]
    assert final.route == "assessment_completed"
    profile = final.profile
    assert (profile.burnout_score, profile.burnout_band) == (25.0, Band.HIGH)
    assert profile.pressure_zones == (
        Zone.EMOTIONAL_WELLBEING,
        Zone.TIME_MANAGEMENT,
        Zone.SOCIAL_SUPPORT,
    )
    assert profile.zone_scores == {
        "emotional_wellbeing": 25.0,
        "time_management": 25.0,
        "social_support": 25.0,
    }
    assert profile.burnout_confidence == 1.0
    assert profile.assessment is None
    assert profile.assessments_completed_at == {"ema": AT}
    assert final.assessment is not None
    assert final.assessment.answers == (2, 4, 2)
    assert final.assessment.session_id == "start"


def test_falling_into_the_crisis_band_starts_the_cascade() -> None:
    decisions = _complete(ACTIVE, "ASSESS", ["3"] * 10)
    final = decisions[-1]
    assert final.profile.burnout_band is Band.CRISIS
    assert final.profile.last_crisis_event_at == AT
    assert final.profile.crisis_followup_count == 0
    assert [o.kind for o in final.outgoing] == ["assessment", "crisis"]
    assert final.crises == (CrisisAlert(Severity.HIGH, "assessment"),)
    # Already in crisis: a second crisis result is not a new band change.
    later = final.profile.model_copy(update={"assessments_completed_at": {}})
    again = _complete(later, "ASSESS", ["3"] * 10)[-1]
    assert [o.kind for o in again.outgoing] == ["assessment"]


def test_assessment_cooldown() -> None:
    done = _complete(ACTIVE, "CHECKIN", ["3", "3", "3"])[-1].profile
    decision = run(done, "checkin", at=AT + timedelta(hours=2))
    assert decision.route == "assessment_too_soon"
    assert bodies(decision) == [replies.assessment_too_soon(EMA.name, 1)]
    assert run(done, "checkin", at=AT + timedelta(days=1)).route == "assessment_started"


def test_expired_session_is_dropped_with_a_notice() -> None:
    stale = ACTIVE.model_copy(
        update={
            "assessment": AssessmentSession(
                instrument="ema", session_id="s", started_at=AT - timedelta(hours=24)
            )
        }
    )
    decision = run(stale, "3")
    assert decision.route == "assessment_expired"
    assert decision.profile.assessment is None
    assert bodies(decision) == [replies.ASSESSMENT_EXPIRED]


# --- every message --------------------------------------------------------------------------------


def test_every_message_is_contact_and_wakes_churned_users() -> None:
    churned = ACTIVE.model_copy(
        update={
            "journey_phase": "churned",
            "reactivation_message_count": 3,
            "last_contact_at": AT - timedelta(days=40),
        }
    )
    decision = run(churned, "hi again")
    assert decision.profile.journey_phase == "active"
    assert decision.profile.reactivation_message_count == 0
    assert decision.profile.last_contact_at == AT
    opted_out = run(OPTED_OUT.model_copy(update={"reactivation_message_count": 2}), "hi")
    assert opted_out.profile.reactivation_message_count == 0


def test_an_older_message_never_moves_last_contact_back() -> None:
    recent = ACTIVE.model_copy(update={"last_contact_at": AT})
    decision = run(recent, "hello", at=AT - timedelta(minutes=5))
    assert decision.profile.last_contact_at == AT


def test_changed_fields_lists_only_what_changed() -> None:
    decision = run(ACTIVE, "DAILY")
    assert changed_fields(ACTIVE, decision.profile) == {
        "checkin_preference": "daily",
        "last_contact_at": AT,
    }


# --- the safety screen in every state ------------------------------------------------------------


def test_medium_crisis_at_first_contact_gets_support_before_the_greeting() -> None:
    decision = run(NEW, "I can't do this anymore")
    assert decision.route == "onboarding"
    assert bodies(decision) == [replies.CRISIS_SUPPORT, replies.WELCOME]
    assert decision.outgoing[0].kind == "crisis"
    assert decision.crises == (CrisisAlert(Severity.MEDIUM, "message"),)


def test_medium_crisis_mid_onboarding_is_answered_and_onboarding_goes_on() -> None:
    asked = run(NEW, "hi").profile
    decision = run(asked, "Ana. honestly I feel hopeless", event_id="e2")
    assert bodies(decision)[0] == replies.CRISIS_SUPPORT
    assert len(decision.outgoing) == 2


def test_high_crisis_at_first_contact_gets_resources_not_the_greeting() -> None:
    decision = run(NEW, "nobody would miss me if I was gone")
    assert decision.route == "crisis"
    assert bodies(decision) == [replies.CRISIS_REPLY]


def test_a_revocation_with_crisis_language_carries_the_resources() -> None:
    decision = run(ACTIVE, "stop texting me, I want to kill myself")
    assert decision.route == "opt_out"
    assert decision.opt_out == OptOutChange(True, "free_text")
    (confirmation,) = decision.outgoing
    assert confirmation.compliance
    assert "988" in confirmation.body
    assert len(confirmation.body) <= 320
    assert decision.crises == (CrisisAlert(Severity.HIGH, "message"),)
    assert decision.profile.last_crisis_event_at == AT


def test_stop_keyword_with_crisis_language_in_a_later_message_while_opted_out() -> None:
    decision = run(OPTED_OUT, "STOP. I'm going to end my life")
    assert decision.outgoing == ()
    assert decision.crises[0].needs_human_follow_up


@pytest.mark.parametrize(
    "text",
    ["please don't ever stop texting me", "my brother needs to stop texting me"],
)
def test_lookalikes_do_not_opt_out(text: str) -> None:
    decision = run(ACTIVE, text)
    assert decision.opt_out is None
    assert not decision.profile.sms_opt_out


def test_an_unclear_revocation_gets_one_question_and_no_opt_out() -> None:
    decision = run(ACTIVE, "too many texts lately")
    assert decision.route == "clarify_opt_out"
    assert bodies(decision) == [replies.CLARIFY_OPT_OUT]
    assert decision.opt_out is None


# --- assessment answers: variants, and messages that are not answers ---------------------------

EMA_Q2 = ACTIVE.model_copy(
    update={
        "assessment": AssessmentSession(
            instrument="ema", session_id="s", started_at=AT - timedelta(minutes=5), answers=(4,)
        )
    }
)
BSFC_Q3 = ACTIVE.model_copy(
    update={
        "assessment": AssessmentSession(
            instrument="bsfc_s",
            session_id="s",
            started_at=AT - timedelta(minutes=5),
            answers=(1, 2),
        )
    }
)


# The safety screen reads some of these variants ("3.", "Cancel.") as an unclear revocation; the
# clarify-opt-out rule leaves answers to the assessment in progress alone
# (`assessments.is_session_reply`). `unscreened` shows the assessment rule on its own.
ANSWER_VARIANTS = [
    ("Skip.", None),
    ("skip!", None),
    ("SKIP", None),
    ("3.", 3),
    ("3!", 3),
    (" 4 ", 4),
    ("4!", 4),
    ("#2", 2),
    ("2)", 2),
    ("three", 3),
    ("Five.", 5),
]
CANCEL_VARIANTS = ["cancel", "Cancel", "Cancel.", "CANCEL!", "cancel?"]
RESTART_VARIANTS = ["restart", "Restart.", "RESTART!", "restart!!"]


def unscreened(profile: Profile, text: str, *, event_id: str = "e1") -> Decision:
    """`decide` with a screen that found nothing: the rules after it, on their own."""
    from services.sms_worker.safety.screen import SafetyReading  # appended section's import

    message = InboundMessage(event_id, text, AT, safety=SafetyReading(None, None))
    return decide(profile, message, QUIET, POLICY)


def _assert_recorded(decision: Decision, recorded: int | None) -> None:
    assert decision.route == "assessment_asked"
    assert decision.outgoing == (Outgoing("reply:e1", "assessment", question_text(EMA, 2)),)
    assert decision.profile.assessment is not None
    assert decision.profile.assessment.answers == (4, recorded)
    assert decision.opt_out is None


@pytest.mark.parametrize(("text", "recorded"), ANSWER_VARIANTS)
def test_answer_variants_are_recorded_by_the_assessment_rule(
    text: str, recorded: int | None
) -> None:
    _assert_recorded(unscreened(EMA_Q2, text), recorded)


@pytest.mark.parametrize(("text", "recorded"), ANSWER_VARIANTS)
def test_answer_variants_are_recorded_and_the_next_question_asked(
    text: str, recorded: int | None
) -> None:
    _assert_recorded(run(EMA_Q2, text), recorded)


def _assert_cancelled(decision: Decision) -> None:
    assert decision.route == "assessment_cancelled"
    assert bodies(decision) == [replies.ASSESSMENT_CANCELLED]
    assert decision.opt_out is None
    assert not decision.profile.sms_opt_out
    assert decision.profile.assessment is None


@pytest.mark.parametrize("text", CANCEL_VARIANTS)
def test_cancel_variants_cancel_by_the_assessment_rule(text: str) -> None:
    _assert_cancelled(unscreened(EMA_Q2, text))


@pytest.mark.parametrize("text", CANCEL_VARIANTS)
def test_cancel_variants_inside_an_assessment_cancel_it_and_do_not_opt_out(text: str) -> None:
    _assert_cancelled(run(EMA_Q2, text))


def _assert_restarted(decision: Decision) -> None:
    assert decision.route == "assessment_restarted"
    assert bodies(decision) == [question_text(EMA, 0)]
    assert decision.profile.assessment == AssessmentSession(
        instrument="ema", session_id="e9", started_at=AT
    )


@pytest.mark.parametrize("text", RESTART_VARIANTS)
def test_restart_variants_restart_by_the_assessment_rule(text: str) -> None:
    _assert_restarted(unscreened(EMA_Q2, text, event_id="e9"))


@pytest.mark.parametrize("text", RESTART_VARIANTS)
def test_restart_variants_start_the_assessment_over(text: str) -> None:
    _assert_restarted(run(EMA_Q2, text, event_id="e9"))


@pytest.mark.parametrize(
    "text", ["my mom had a rough night", "what does that mean?", "hello", "yes", "CHECKIN", ""]
)
def test_a_message_that_is_not_an_answer_is_acknowledged_and_the_session_stays(
    text: str,
) -> None:
    decision = run(BSFC_Q3, text)
    assert decision.route == "assessment_invalid"
    expected = (
        "Thanks for sharing that. Want to keep going? Reply 0-3 for question 3 of 10, SKIP to "
        "skip it, or CANCEL to end the check-in."
    )
    assert decision.outgoing == (Outgoing("reply:e1", "assessment", expected),)
    assert len(expected) <= replies.SMS_SEGMENT
    assert decision.profile.assessment == BSFC_Q3.assessment
    assert decision.assessment is None
    assert decision.crises == ()
    assert not decision.respond
    assert decision.profile.burnout_score is None


@pytest.mark.parametrize("text", ["7", "4", "-1", "2.5", "seven"])
def test_a_number_off_the_scale_is_not_recorded(text: str) -> None:
    decision = run(BSFC_Q3, text)
    assert decision.route == "assessment_invalid"
    assert bodies(decision) == [
        replies.assessment_not_an_answer(
            question=3, size=10, scale_min=0, scale_max=3, off_scale=True
        )
    ]
    assert decision.profile.assessment == BSFC_Q3.assessment


def test_medium_crisis_in_an_assessment_gets_support_then_the_way_on_or_out() -> None:
    decision = run(BSFC_Q3, "I can't cope anymore")
    assert decision.route == "assessment_invalid"
    assert bodies(decision) == [
        replies.CRISIS_SUPPORT,
        replies.assessment_not_an_answer(
            question=3, size=10, scale_min=0, scale_max=3, off_scale=False
        ),
    ]
    assert decision.crises == (CrisisAlert(Severity.MEDIUM, "message"),)
    assert decision.profile.assessment == BSFC_Q3.assessment


def test_the_last_question_is_offered_with_its_number() -> None:
    last = BSFC_Q3.model_copy(
        update={
            "assessment": AssessmentSession(
                instrument="bsfc_s", session_id="s", started_at=AT, answers=(1,) * 9
            )
        }
    )
    (reply,) = bodies(run(last, "hmm, not sure"))
    assert "question 10 of 10" in reply
    assert len(reply) <= replies.SMS_SEGMENT
