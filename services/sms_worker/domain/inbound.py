"""What one inbound SMS does, in the order the domain rules fix: a pure function of the profile,
the message and a few facts read beforehand (messages today, billing access).

The safety screen's reading (crisis language, free-text revocation) arrives with the message:
the handler runs both layers first. Then compliance keywords and revocations (whose confirmation
carries crisis resources when the message also carries crisis language), crisis replies (before
any limit or gate can silence them), the rate limit, the subscription gate, check-in keywords,
onboarding, an assessment in progress, and finally the responder. The handler reads, calls
`decide`, and writes what the `Decision` says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from services.sms_worker.domain import assessments, onboarding, replies
from services.sms_worker.domain.assessments import Band, Score
from services.sms_worker.domain.instruments import BASELINE, INSTRUMENTS, Instrument
from services.sms_worker.domain.keywords import Command, classify
from services.sms_worker.domain.profile import Profile
from services.sms_worker.safety.lexicon import Severity
from services.sms_worker.safety.revocation import Revocation
from services.sms_worker.safety.screen import CrisisFinding, SafetyReading
from shared.events.catalog import OutboundKind
from shared.timezones import timezone_for_zip

OptOutSource = Literal["keyword", "free_text", "twilio"]
CrisisSource = Literal["message", "assessment"]
_AFFIRMATIVE = frozenset({"yes", "y", "yeah", "yep", "sure", "ok", "okay", "start", "lets go"})
_CHECKIN_COMMANDS = frozenset(
    {Command.CHECKIN_DAILY, Command.CHECKIN_WEEKLY, Command.PAUSE, Command.RESUME}
)


@dataclass(frozen=True)
class InboundMessage:
    event_id: str
    text: str
    # When the user sent it (ingress's receive time): every rule measures time from here, so
    # a redelivered or retried event decides exactly as the first delivery did.
    at: datetime
    # What the safety screen read in `text`: crisis language and free-text revocation.
    safety: SafetyReading
    # Twilio Advanced Opt-Out's classification ("STOP", "START", "HELP"), when it made one.
    twilio_opt_out: str | None = None


@dataclass(frozen=True)
class Access:
    """The billing read model for this user's phone."""

    has_access: bool
    status: str | None = None


@dataclass(frozen=True)
class Facts:
    """What `decide` needs from other collections, read by the handler first."""

    # Inbound messages in the rolling day, this one included, crisis messages not counted.
    inbound_last_day: int
    # None while subscriptions are disabled; `Access(False)` when billing never heard of them.
    access: Access | None = None


@dataclass(frozen=True)
class Policy:
    """The tunable numbers of the rules (from settings) and the pages replies link to."""

    signup_url: str
    billing_url: str
    rate_limit_per_day: int = 30
    onboarding_max_attempts: int = 2
    onboarding_cooldown: timedelta = timedelta(hours=24)
    assessment_expiry: timedelta = timedelta(hours=24)
    snooze: timedelta = timedelta(days=7)


@dataclass(frozen=True)
class Outgoing:
    """One SMS to request; `key` is its idempotency key, derived from the inbound event."""

    key: str
    kind: OutboundKind
    body: str
    compliance: bool = False


@dataclass(frozen=True)
class OptOutChange:
    opted_out: bool
    source: OptOutSource


@dataclass(frozen=True)
class CrisisAlert:
    severity: Severity
    source: CrisisSource
    domestic_violence: bool = False
    # No text could carry the resources (the user had opted out): a person must follow up.
    needs_human_follow_up: bool = False


@dataclass(frozen=True)
class AssessmentCompleted:
    session_id: str
    answers: tuple[int | None, ...]
    score: Score


@dataclass(frozen=True)
class Decision:
    profile: Profile
    # Which rule handled the message; for logs, metrics and tests.
    route: str
    outgoing: tuple[Outgoing, ...] = ()
    opt_out: OptOutChange | None = None
    crises: tuple[CrisisAlert, ...] = ()
    assessment: AssessmentCompleted | None = None
    # The responder writes the reply (key `reply:<event id>`); the medium crisis, if any, says
    # it should be especially gentle and mention 988.
    respond: bool = False
    crisis_severity: Severity | None = None
    # Not counted towards the rate limit (crisis messages).
    rate_exempt: bool = False


def reply_key(event_id: str) -> str:
    return f"reply:{event_id}"


def local_date(at: datetime, timezone: str) -> str:
    return at.astimezone(ZoneInfo(timezone)).date().isoformat()


def _with_contact(profile: Profile, at: datetime) -> Profile:
    """Rule 10: every inbound message is contact; a churned user who writes is active again."""
    last = profile.last_contact_at
    phase = "active" if profile.journey_phase == "churned" else profile.journey_phase
    return profile.model_copy(
        update={
            "last_contact_at": at if last is None or at > last else last,
            "reactivation_message_count": 0,
            "journey_phase": phase,
        }
    )


def _crisis_started(profile: Profile, at: datetime) -> Profile:
    return profile.model_copy(update={"last_crisis_event_at": at, "crisis_followup_count": 0})


def decide(profile: Profile, message: InboundMessage, facts: Facts, policy: Policy) -> Decision:
    at, event_id = message.at, message.event_id
    p = _with_contact(profile, at)
    command, source = _command(p, message)
    finding = message.safety.crisis
    exempt = finding is not None

    if command is Command.OPT_OUT:
        if p.sms_opt_out:
            return _silenced_crisis(p, "already_opted_out", finding, at)
        p = p.model_copy(update={"sms_opt_out": True, "opted_out_at": at, "opt_out_changed_at": at})
        if finding is not None and finding.severity is Severity.HIGH:
            p = _crisis_started(p, at)
        # A revocation never silences crisis resources: they ride in the one confirmation.
        body = (
            replies.opt_out_with_crisis(finding.domestic_violence)
            if finding is not None
            else replies.OPT_OUT_CONFIRMATION
        )
        confirmation = Outgoing(f"opt-out:{event_id}", "compliance", body, compliance=True)
        return Decision(
            p,
            "opt_out",
            (confirmation,),
            OptOutChange(True, source),
            crises=_alerts(finding),
            rate_exempt=exempt,
        )
    if command is Command.OPT_IN:
        p = p.model_copy(
            update={"sms_opt_out": False, "opted_out_at": None, "opt_out_changed_at": at}
        )
        confirmation = Outgoing(
            f"opt-in:{event_id}", "compliance", replies.OPT_IN_CONFIRMATION, compliance=True
        )
        return Decision(p, "opt_in", (confirmation,), OptOutChange(False, source))
    if p.sms_opt_out:
        return _silenced_crisis(p, "opted_out", finding, at)
    if finding is not None and finding.severity is Severity.HIGH:
        crisis = Outgoing(
            f"crisis:{event_id}", "crisis", replies.crisis_reply(finding.domestic_violence)
        )
        return Decision(
            _crisis_started(p, at), "crisis", (crisis,), crises=_alerts(finding), rate_exempt=True
        )
    if command is Command.HELP:
        help_text = Outgoing(reply_key(event_id), "compliance", replies.HELP_TEXT)
        return Decision(p, "help", (help_text,), crises=_alerts(finding), rate_exempt=exempt)
    decision = _after_support(p, message, facts, policy, command)
    if finding is None:
        return decision
    # Medium: a supportive reply naming 988 goes first, in every state; the flow goes on.
    support = Outgoing(f"crisis-support:{event_id}", "crisis", replies.CRISIS_SUPPORT)
    return replace(
        decision,
        outgoing=(support, *decision.outgoing),
        crises=(*_alerts(finding), *decision.crises),
        crisis_severity=finding.severity,
        rate_exempt=True,
    )


def _silenced_crisis(
    p: Profile, route: str, finding: CrisisFinding | None, at: datetime
) -> Decision:
    """Opted out: nothing may be sent (carriers block it), but a crisis is recorded for a person
    to follow up, and a high one starts the follow-up clock."""
    if finding is None:
        return Decision(p, route)
    if finding.severity is Severity.HIGH:
        p = _crisis_started(p, at)
    alert = CrisisAlert(
        finding.severity, "message", finding.domestic_violence, needs_human_follow_up=True
    )
    return Decision(p, route, crises=(alert,), rate_exempt=True)


def _after_support(
    p: Profile, message: InboundMessage, facts: Facts, policy: Policy, command: Command | None
) -> Decision:
    """Every rule after the safety replies: limits, gate, keywords, onboarding, assessments,
    and the responder."""
    at, event_id = message.at, message.event_id
    exempt = message.safety.crisis is not None
    alerts: tuple[CrisisAlert, ...] = ()

    if not exempt and facts.inbound_last_day > policy.rate_limit_per_day:
        today = local_date(at, p.timezone)
        if p.rate_limit_notice_on == today:
            return Decision(p, "rate_limited")
        notice = Outgoing(
            f"rate-limit-notice:{p.user_id}:{today}",
            "rate_limit_notice",
            replies.RATE_LIMIT_NOTICE,
        )
        return Decision(
            p.model_copy(update={"rate_limit_notice_on": today}), "rate_limited", (notice,)
        )
    if facts.access is not None and not facts.access.has_access and not exempt:
        today = local_date(at, p.timezone)
        if p.subscription_notice_on == today:
            return Decision(p, "no_access")
        body = replies.subscription_gate(
            facts.access.status, signup_url=policy.signup_url, billing_url=policy.billing_url
        )
        gate = Outgoing(f"subscription-gate:{p.user_id}:{today}", "subscription_gate", body)
        return Decision(
            p.model_copy(update={"subscription_notice_on": today}), "no_access", (gate,)
        )

    # One question when a message might revoke; never for an answer to the assessment in
    # progress ("3.", "Cancel!"), which is the assessment's to read.
    in_session = p.assessment is not None and assessments.is_session_reply(
        INSTRUMENTS[p.assessment.instrument], message.text
    )
    if message.safety.revocation is Revocation.UNCLEAR and command is None and not in_session:
        clarify = Outgoing(f"clarify-opt-out:{event_id}", "reply", replies.CLARIFY_OPT_OUT)
        return Decision(p, "clarify_opt_out", (clarify,), rate_exempt=exempt)
    if command in _CHECKIN_COMMANDS:
        assert command is not None
        return _checkin(p, command, event_id, at, policy, alerts, exempt)
    if p.journey_phase == "onboarding":
        decision = _onboarding(p, message, policy, alerts, exempt)
        if decision is not None:
            return decision
    if p.assessment is not None:
        return _assessment_answer(p, message, policy, alerts, exempt)
    started = _maybe_start_assessment(p, message, alerts, exempt)
    if started is not None:
        return started
    if p.assessment_offer is not None:
        p = p.model_copy(update={"assessment_offer": None})
    return Decision(p, "responder", crises=alerts, respond=True, rate_exempt=exempt)


def _command(profile: Profile, message: InboundMessage) -> tuple[Command | None, OptOutSource]:
    """The command in the message; Twilio's own opt-out classification wins (it already acted
    on it at the carrier side, so our state must follow)."""
    twilio = (message.twilio_opt_out or "").upper()
    if twilio == "STOP":
        return Command.OPT_OUT, "twilio"
    if twilio == "START":
        return (Command.OPT_IN if profile.sms_opt_out else None), "twilio"
    if twilio == "HELP":
        return Command.HELP, "twilio"
    command = classify(
        message.text, opted_out=profile.sms_opt_out, in_assessment=profile.assessment is not None
    )
    if command is None and message.safety.revocation is Revocation.CLEAR:
        return Command.OPT_OUT, "free_text"
    return command, "keyword"


def _alerts(finding: CrisisFinding | None) -> tuple[CrisisAlert, ...]:
    """The alert to record for a finding in the message itself."""
    if finding is None:
        return ()
    return (CrisisAlert(finding.severity, "message", finding.domestic_violence),)


def _checkin(
    p: Profile,
    command: Command,
    event_id: str,
    at: datetime,
    policy: Policy,
    alerts: tuple[CrisisAlert, ...],
    exempt: bool,
) -> Decision:
    if command is Command.CHECKIN_DAILY:
        p = p.model_copy(update={"checkin_preference": "daily"})
    elif command is Command.CHECKIN_WEEKLY:
        p = p.model_copy(update={"checkin_preference": "weekly"})
    elif command is Command.PAUSE:
        p = p.model_copy(update={"snooze_until": at + policy.snooze})
    else:
        p = p.model_copy(update={"snooze_until": None})
    reply = Outgoing(reply_key(event_id), "reply", replies.CHECKIN_REPLIES[command])
    return Decision(p, f"checkin_{command.value}", (reply,), crises=alerts, rate_exempt=exempt)


def _onboarding(
    p: Profile,
    message: InboundMessage,
    policy: Policy,
    alerts: tuple[CrisisAlert, ...],
    exempt: bool,
) -> Decision | None:
    known = {
        f: value
        for f in onboarding.FIELDS
        if (value := getattr(p, f.value)) is not None and isinstance(value, str)
    }
    step = onboarding.advance(
        p.onboarding,
        message.text,
        known=known,
        at=message.at,
        max_attempts=policy.onboarding_max_attempts,
        cooldown=policy.onboarding_cooldown,
    )
    if step is None:
        return None
    updates: dict[str, object] = {f.value: value for f, value in step.captured.items()}
    if onboarding.Field.ZIP_CODE in step.captured:
        zip_code = step.captured[onboarding.Field.ZIP_CODE]
        updates["timezone"] = timezone_for_zip(zip_code, default=p.timezone)
    if step.state is None:
        first_name = step.captured.get(onboarding.Field.FIRST_NAME) or p.first_name or "friend"
        updates |= {
            "journey_phase": "active",
            "onboarding": onboarding.OnboardingState(field=onboarding.Field.ZIP_CODE, asked=True),
            "assessment_offer": BASELINE.id,
        }
        body = replies.onboarding_complete(first_name, replies.offer_assessment(BASELINE.minutes))
        route = "onboarding_complete"
    else:
        updates["onboarding"] = step.state
        body = step.reply
        route = "onboarding"
    reply = Outgoing(reply_key(message.event_id), "onboarding", body)
    return Decision(
        p.model_copy(update=updates), route, (reply,), crises=alerts, rate_exempt=exempt
    )


def _assessment_answer(
    p: Profile,
    message: InboundMessage,
    policy: Policy,
    alerts: tuple[CrisisAlert, ...],
    exempt: bool,
) -> Decision:
    assert p.assessment is not None
    session = p.assessment
    step = assessments.answer(
        session,
        message.text,
        at=message.at,
        expiry=policy.assessment_expiry,
        restart_id=message.event_id,
    )
    event_id = message.event_id
    updates: dict[str, object] = {"assessment": step.session}
    outgoing = [Outgoing(reply_key(event_id), "assessment", step.reply)]
    completed = None
    crises = alerts
    if step.score is not None:
        score = step.score
        completed = AssessmentCompleted(session.session_id, step.answers, score)
        updates |= {
            "burnout_score": float(round(score.score, 1)),
            "burnout_band": score.band,
            "burnout_confidence": float(round(score.confidence, 2)),
            "pressure_zones": score.pressure_zones,
            "zone_scores": {z.value: float(round(v, 1)) for z, v in score.zone_scores.items()},
            "assessments_completed_at": {
                **p.assessments_completed_at,
                score.instrument: message.at,
            },
        }
        if score.band is Band.CRISIS and p.burnout_band is not Band.CRISIS:
            updates |= {"last_crisis_event_at": message.at, "crisis_followup_count": 0}
            crises = (*crises, CrisisAlert(Severity.HIGH, "assessment"))
            outgoing.append(Outgoing(f"crisis:{event_id}", "crisis", replies.CRISIS_REPLY))
    return Decision(
        p.model_copy(update=updates),
        f"assessment_{step.outcome}",
        tuple(outgoing),
        crises=crises,
        assessment=completed,
        rate_exempt=exempt,
    )


_WORD = re.compile(r"[^a-z ]+")


def _maybe_start_assessment(
    p: Profile, message: InboundMessage, alerts: tuple[CrisisAlert, ...], exempt: bool
) -> Decision | None:
    word = message.text.strip().strip(" .!").upper()
    instrument: Instrument | None = next(
        (i for i in INSTRUMENTS.values() if word in i.start_keywords), None
    )
    if (
        instrument is None
        and p.assessment_offer is not None
        and _WORD.sub("", message.text.lower()).strip() in _AFFIRMATIVE
    ):
        instrument = INSTRUMENTS.get(p.assessment_offer)
    if instrument is None:
        return None
    key = reply_key(message.event_id)
    remaining = assessments.cooldown_remaining(
        instrument, p.assessments_completed_at.get(instrument.id), message.at
    )
    p = p.model_copy(update={"assessment_offer": None})
    if remaining is not None:
        days = max(1, -(-remaining // timedelta(days=1)))
        body = replies.assessment_too_soon(instrument.name, days)
        return Decision(
            p, "assessment_too_soon", (Outgoing(key, "assessment", body),), crises=alerts
        )
    step = assessments.start(instrument, message.event_id, message.at)
    return Decision(
        p.model_copy(update={"assessment": step.session}),
        "assessment_started",
        (Outgoing(key, "assessment", step.reply),),
        crises=alerts,
        rate_exempt=exempt,
    )
