"""Every fixed text the inbound worker sends, in one place so wording is reviewed together.

Each fits one SMS segment (160 characters) with the longest plausible names filled in; the unit
tests hold them to it. Nothing here gives medical advice.
"""

from __future__ import annotations

from services.sms_worker.domain.keywords import Command

SMS_SEGMENT = 160

OPT_OUT_CONFIRMATION = (
    "You're unsubscribed from GiveCare and won't get more texts. Reply START to resubscribe."
)
OPT_IN_CONFIRMATION = (
    "Welcome back to GiveCare! You'll get texts again. Reply STOP to opt out, HELP for help."
)
HELP_TEXT = (
    "GiveCare: text support for family caregivers. DAILY or WEEKLY sets check-ins, PAUSE "
    "snoozes them, STOP opts out. In crisis call or text 988."
)
CRISIS_REPLY = (
    "I'm so sorry you're hurting. You're not alone. Call or text 988 now, or text HOME to "
    "741741. If you're in immediate danger, call 911."
)
CRISIS_REPLY_DOMESTIC_VIOLENCE = (
    "You deserve to be safe. Call or text 988, text HOME to 741741, or call the DV hotline "
    "1-800-799-7233. In danger now? Call 911."
)
# Medium-severity crisis language: said first, then the conversation goes on as it would have.
CRISIS_SUPPORT = (
    "That sounds so hard, and I'm glad you told me. You can call or text 988 any time, day or "
    "night, to talk with someone."
)
# Free text that might be a revocation but is not clearly one: one question, no opt-out.
CLARIFY_OPT_OUT = (
    "Want to stop all texts from GiveCare? Reply STOP. Otherwise, just keep texting me."
)
# A revocation that carries crisis language: the one confirmation carries the resources (<= 320
# characters, two segments, nothing promotional).
OPT_OUT_WITH_CRISIS = (
    "You're unsubscribed from GiveCare. Please reach out now: call or text 988, or text HOME to "
    "741741. In immediate danger, call 911. Reply START to resubscribe."
)
OPT_OUT_WITH_CRISIS_DOMESTIC_VIOLENCE = (
    "You're unsubscribed from GiveCare. You deserve to be safe: call or text 988, text HOME to "
    "741741, or call the DV hotline 1-800-799-7233. In danger now, call 911. Reply START to "
    "resubscribe."
)
RATE_LIMIT_NOTICE = (
    "We've had a lot of messages today, so I'll pause replies until tomorrow. If you're in "
    "crisis, call or text 988 any time."
)
CHECKIN_REPLIES = {
    Command.CHECKIN_DAILY: "Got it: I'll check in with you daily. Text PAUSE any time to take a "
    "break.",
    Command.CHECKIN_WEEKLY: "Got it: I'll check in with you weekly. Text PAUSE any time to take a "
    "break.",
    Command.PAUSE: "Check-ins paused for 7 days. Text RESUME to restart them sooner. I'm still "
    "here if you want to talk.",
    Command.RESUME: "Check-ins are back on. Thanks for letting me know.",
}


def crisis_reply(domestic_violence: bool) -> str:
    return CRISIS_REPLY_DOMESTIC_VIOLENCE if domestic_violence else CRISIS_REPLY


def opt_out_with_crisis(domestic_violence: bool) -> str:
    return OPT_OUT_WITH_CRISIS_DOMESTIC_VIOLENCE if domestic_violence else OPT_OUT_WITH_CRISIS


def subscription_gate(status: str | None, *, signup_url: str, billing_url: str) -> str:
    """The one message for a user without access, chosen by their subscription status."""
    if status in ("past_due", "unpaid"):
        return (
            f"Your GiveCare payment didn't go through. Update your card to keep texting: "
            f"{billing_url}"
        )
    if status in ("canceled", "paused", "incomplete_expired"):
        return (
            f"Your GiveCare subscription has ended. Resubscribe any time to keep texting: "
            f"{signup_url}"
        )
    return f"Welcome to GiveCare! Start your subscription to text with us: {signup_url}"


# --- onboarding --------------------------------------------------------------------------------

WELCOME = (
    "Hi, I'm GiveCare, text support for family caregivers. What's your first name? "
    "(Reply STOP to opt out.)"
)


def ask_relationship(first_name: str) -> str:
    return f"Thanks, {first_name}! Who do you care for? For example: mom, dad, spouse, child."


def ask_care_recipient_name(relationship: str) -> str:
    return f"What's your {relationship}'s first name?"


def ask_zip() -> str:
    return "Last one: what's your ZIP code? It sets your time zone so I text at good times."


def retry_field(question: str) -> str:
    return f"Sorry, I didn't catch that. {question}"


ONBOARDING_COOLDOWN = (
    "No problem, we can finish setting up later. I'm here whenever you want to talk."
)


def onboarding_complete(first_name: str, offer: str) -> str:
    return f"You're all set, {first_name}. {offer}"


# --- assessments -------------------------------------------------------------------------------


def offer_assessment(minutes: int) -> str:
    return f"Want a {minutes}-minute check-in on how you're doing? Reply YES to start."


ASSESSMENT_CANCELLED = "Check-in cancelled. Text CHECKIN or ASSESS any time to start again."
ASSESSMENT_EXPIRED = (
    "That check-in expired after a day without answers. Text CHECKIN or ASSESS to start again."
)


def assessment_not_an_answer(
    *, question: int, size: int, scale_min: int, scale_max: int, off_scale: bool
) -> str:
    """A message in an assessment that is not an answer: acknowledged, then the way on (this
    question, SKIP) or out (CANCEL). `off_scale` when it was a number the scale does not have.
    Without the question's text, which would not fit beside it."""
    ways = (
        f"Reply {scale_min}-{scale_max} for question {question} of {size}, SKIP to skip it, or "
        "CANCEL to end the check-in."
    )
    if off_scale:
        return f"Sorry, that's not on the scale. {ways}"
    return f"Thanks for sharing that. Want to keep going? {ways}"


ASSESSMENT_UNSCORED = "You skipped every question, so there's no score this time. That's okay."


def assessment_too_soon(name: str, days: int) -> str:
    unit = "day" if days == 1 else "days"
    return f"You did the {name} recently. It opens again in {days} {unit}. I'm here to talk."


def assessment_result(score: int, band: str, top_zone: str | None) -> str:
    zone = f" Biggest pressure: {top_zone}." if top_zone else ""
    return f"Thanks for checking in. Your well-being score is {score}/100 ({band}).{zone}"
