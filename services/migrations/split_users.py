"""`001_split_users`: the legacy hot `users` document → the split collections; `003` cleans up.

Each legacy user (one document of ~117 camelCase fields) becomes:

* `users` (SMS worker) — identity: `_id` = the legacy id as a string, so ids survive;
* an operator (admin, `operators`, keyed by phone) for a user who held admin roles, written
  through the admin's operators repository (`MongoOperators.import_write`): roles are the
  admin's data, not the SMS worker's. Its id is the legacy id too; a phone the admin already
  knows keeps its live operator and roles;
* `user_profiles` and `conversation_state` (SMS worker), `_id` = the user id;
* `billing_accounts` (billing worker, keyed by phone) and the `billing_customers` link, only
  for users with Stripe data;
* follow-up events in the owning service's outbox, so the services that keep read models learn
  about migrated users the way they learn about any change: `user.profile.changed` (scheduler),
  `sms.optout.changed` for opted-out users (the sender's suppression list, the scheduler) and
  `billing.access.changed` (SMS worker gate, scheduler). Event ids derive from the migration id
  and the user, so a replayed batch adds nothing; `changed_at`/`version` are the legacy values,
  so any change the live system made since wins over them.

Every target write is `insert_if_absent` (the operator's an upsert on the phone that only
inserts): the backfill only creates what does not exist yet and
never overwrites what the running services wrote after cut-over, so replaying it is harmless and
it can run while dual-writes are on. A legacy user with no usable phone number is rejected
(reported in the error samples): the phone is the identity everything is keyed by.

Field mapping (legacy → new) is the `*_FIELDS` tables below; `RETIRED_FIELDS` are legacy fields
with no home in the new system, left on the legacy document by the cleanup so nothing is silently
destroyed. An assessment in progress is not carried over: the legacy document kept its position
but not the answers, so it cannot be resumed (the user is offered it again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

from pymongo import InsertOne, UpdateOne

from services.admin.records import Operator, roles_of
from services.admin.store import OPERATORS, MongoOperators, operator_indexes
from services.billing_worker.domain.access import has_access
from services.billing_worker.store import ACCOUNTS, BILLING_INDEXES, CUSTOMERS
from services.migrations import legacy_values as lv
from services.migrations.cleanup import UnsetMovedFields, undo_backfill
from services.migrations.compare import differing_fields, normalised
from services.migrations.targets import MigrationDatabases
from services.sms_worker.domain.assessments import Band, band_for
from services.sms_worker.domain.instruments import Zone
from services.sms_worker.domain.onboarding import FIELDS as ONBOARDING_FIELDS
from services.sms_worker.domain.onboarding import OnboardingState
from services.sms_worker.domain.profile import Profile, profile_document
from services.sms_worker.handlers import profile_snapshot
from services.sms_worker.storage import CONVERSATIONS, PROFILES, USERS, sms_worker_indexes
from shared.events import new_event
from shared.events.catalog import BillingAccessChanged, SmsOptOutChanged
from shared.migrations import (
    DocumentRejected,
    Migration,
    Phase,
    Plan,
    Target,
    VerifyReport,
    insert_if_absent,
)
from shared.mongo import Document, MongoClient, ensure_indexes
from shared.outbox import OUTBOX_COLLECTION, outbox_row
from shared.phones import InvalidPhoneNumber, normalise_phone
from shared.timezones import timezone_for_zip

ID: Final = "001_split_users"
CLEANUP_ID: Final = "003_cleanup_split_users"
# Marks every document the backfill created, for verify and rollback.
MARK: Final = "migrated_from"
MARK_VALUE: Final = "legacy.users"
# Set on a legacy user once all of its writes landed: what the cleanup is allowed to empty.
SOURCE_MARK: Final = "migrated_001_at"
RECENT_MESSAGES_KEPT: Final = 20
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

IDENTITY_FIELDS: Final = ("phoneNumber", "phone", "email", "roles", "isAdmin", "createdAt")
PROFILE_FIELDS: Final = (
    "firstName",
    "relationship",
    "careRecipientName",
    "zipCode",
    "timezone",
    "languagePreference",
    "journeyPhase",
    "burnoutScore",
    "burnoutBand",
    "burnoutConfidence",
    "pressureZones",
    "pressureZoneScores",
    "lastContactAt",
    "lastProactiveMessageAt",
    "lastCrisisEventAt",
    "crisisFollowupCount",
    "reactivationMessageCount",
    "onboardingAttempts",
    "onboardingCooldownUntil",
    "assessmentInProgress",
    "assessmentType",
    "assessmentCurrentQuestion",
    "assessmentSessionId",
    "assessmentStartedAt",
    "lastAssessmentCompletedAt",
    "smsOptOut",
    "optedOutAt",
    "checkinFrequency",
    "snoozeUntil",
)
CONVERSATION_FIELDS: Final = (
    "recentMessages",
    "historicalSummary",
    "historicalSummaryVersion",
    "historicalSummaryTokenUsage",
    "conversationStartDate",
    "totalInteractionCount",
)
BILLING_FIELDS: Final = (
    "stripeCustomerId",
    "stripeSubscriptionId",
    "subscriptionStatus",
    "currentPeriodEnd",
    "cancelAtPeriodEnd",
    "canceledAt",
    "trialEndsAt",
)
# Moved fields: what the cleanup removes from the legacy document once verify has passed.
MOVED_FIELDS: Final = IDENTITY_FIELDS + PROFILE_FIELDS + CONVERSATION_FIELDS + BILLING_FIELDS
# The legacy app's analytics, marketing and questionnaire leftovers: no home in the new system.
LEGACY_ANALYTICS_FIELDS: Final = (
    "utmSource", "utmMedium", "utmCampaign", "referralCode", "signupChannel", "lastLoginAt",
    "loginCount", "appVersion", "platform", "locale", "pushEnabled", "pushToken",
    "marketingOptIn", "npsScore", "npsRespondedAt", "wellnessGoals", "favoriteResources",
    "careHoursPerWeek", "careDurationMonths", "livesWithRecipient", "recipientAge",
    "recipientConditions", "hasBackupCaregiver", "employmentStatus", "householdIncomeBand",
    "ageBand", "gender", "state", "county", "preferredContactTime", "quietHoursStart",
    "quietHoursEnd", "emaLastScore", "emaLastTakenAt", "bsfcLastScore", "bsfcLastTakenAt",
    "reachLastScore", "reachLastTakenAt", "sdohLastScore", "sdohLastTakenAt", "streakDays",
    "longestStreakDays", "badgesEarned", "resourcesViewed", "resourcesSaved", "lastResourceAt",
    "feedbackCount", "lastFeedbackAt", "betaFeatures", "experimentGroup", "abVariant",
    "onboardingVersion", "welcomeSeriesStep", "welcomeSeriesCompletedAt", "surveyInvitedAt",
    "surveyCompletedAt", "lastExportAt", "dataDeletionRequestedAt",
)  # fmt: skip
# Legacy fields with no home in the new system, left on the legacy document by the cleanup.
# `updatedAt` stays too: the legacy app still bumps it while dual-writes are on.
RETIRED_FIELDS: Final = (
    "updatedAt",
    "name",
    "image",
    "emailVerificationTime",
    "phoneVerificationTime",
    "isAnonymous",
    "tokenIdentifier",
    "rcsCapable",
    "deviceType",
    "consentAt",
    "appState",
    *LEGACY_ANALYTICS_FIELDS,
)

_PHASES: Final = {"onboarding": "onboarding", "active": "active", "churned": "churned"}
# Legacy phases that meant "onboarded, not churned".
_ACTIVE_PHASES: Final = frozenset({"maintenance", "crisis", "engaged", "paused", "dormant"})
_ZONES: Final = {zone.value: zone for zone in Zone}
_ZONE_ALIASES: Final = {
    "physical": Zone.PHYSICAL_HEALTH,
    "emotional": Zone.EMOTIONAL_WELLBEING,
    "financial": Zone.FINANCIAL_CONCERNS,
    "time": Zone.TIME_MANAGEMENT,
    "social": Zone.SOCIAL_SUPPORT,
    "social_isolation": Zone.SOCIAL_SUPPORT,
    "financial_strain": Zone.FINANCIAL_CONCERNS,
}
_BANDS: Final = {band.value: band for band in Band}


def legacy_user_id(document: Mapping[str, Any]) -> str:
    return str(document["_id"])


def legacy_phone(document: Mapping[str, Any]) -> str:
    """The E.164 phone of a legacy user (`phoneNumber`, else `phone`), or `DocumentRejected`."""
    for field in ("phoneNumber", "phone"):
        raw = document.get(field)
        if isinstance(raw, int) and not isinstance(raw, bool):
            raw = str(raw)
        raw = lv.text(raw)
        if raw is None:
            continue
        try:
            return normalise_phone(raw)
        except InvalidPhoneNumber:
            continue
    raise DocumentRejected("no usable phone number (phoneNumber/phone missing or unparseable)")


def _zones(value: Any) -> tuple[Zone, ...]:
    zones: list[Zone] = []
    for item in value if isinstance(value, list) else ():
        key = lv.snake_key(item)
        zone = _ZONES.get(key or "") or _ZONE_ALIASES.get(key or "")
        if zone is not None and zone not in zones:
            zones.append(zone)
    return tuple(zones)


def _zone_scores(value: Any) -> dict[str, float]:
    scores: dict[str, float] = {}
    for key, raw in lv.mapping(value).items():
        name = lv.snake_key(key)
        zone = _ZONES.get(name or "") or _ZONE_ALIASES.get(name or "")
        score = lv.number(raw)
        if zone is not None and score is not None:
            scores[zone.value] = max(0.0, min(100.0, score))
    return scores


def _journey_phase(document: Mapping[str, Any], first_name: str | None) -> str:
    raw = lv.snake_key(document.get("journeyPhase"))
    if raw in _PHASES:
        return _PHASES[raw]
    if raw in _ACTIVE_PHASES:
        return "active"
    return "active" if first_name and lv.text(document.get("zipCode")) else "onboarding"


def _onboarding(document: Mapping[str, Any], profile_fields: Mapping[str, Any]) -> OnboardingState:
    attempts_raw = document.get("onboardingAttempts")
    if isinstance(attempts_raw, Mapping):
        # Some app versions counted attempts per question; the new state counts the current one.
        attempts = max((lv.integer(v, minimum=0) or 0 for v in attempts_raw.values()), default=0)
    else:
        attempts = lv.integer(attempts_raw, minimum=0) or 0
    missing = [field for field in ONBOARDING_FIELDS if profile_fields.get(field.value) is None]
    return OnboardingState(
        field=missing[0] if missing else ONBOARDING_FIELDS[-1],
        attempts=min(attempts, 99),
        cooldown_until=lv.timestamp(document.get("onboardingCooldownUntil")),
    )


def _burnout(document: Mapping[str, Any]) -> tuple[float | None, Band | None, float | None]:
    score = lv.number(document.get("burnoutScore"))
    if score is not None:
        score = max(0.0, min(100.0, score))
    band = _BANDS.get(lv.snake_key(document.get("burnoutBand")) or "")
    if band is None and score is not None:
        band = band_for(score)
    if score is None:
        band = None
    confidence = lv.number(document.get("burnoutConfidence"))
    if confidence is not None:
        confidence = max(0.0, min(1.0, confidence))
    return score, band, confidence


def legacy_profile(document: Mapping[str, Any], user_id: str, *, default_timezone: str) -> Profile:
    """The new profile a legacy user document describes (defaults for what is missing or odd)."""
    first_name = lv.text(document.get("firstName"))
    zip_code = lv.text(document.get("zipCode"))
    if isinstance(document.get("zipCode"), int):
        zip_code = f"{document['zipCode']:05d}"
    fields = {
        "first_name": first_name,
        "relationship": lv.text(document.get("relationship")),
        "care_recipient_name": lv.text(document.get("careRecipientName")),
        "zip_code": zip_code,
    }
    timezone = lv.text(document.get("timezone"))
    if timezone is None:
        timezone = timezone_for_zip(zip_code, default_timezone) if zip_code else default_timezone
    score, band, confidence = _burnout(document)
    opted_out = lv.flag(document.get("smsOptOut")) or False
    opted_out_at = lv.timestamp(document.get("optedOutAt")) if opted_out else None
    checkin = lv.snake_key(document.get("checkinFrequency"))
    language = lv.text(document.get("languagePreference")) or "en"
    completed: dict[str, datetime] = {}
    last_assessment = lv.timestamp(document.get("lastAssessmentCompletedAt"))
    assessment_type = lv.snake_key(document.get("assessmentType"))
    if last_assessment is not None and assessment_type:
        completed[assessment_type] = last_assessment
    return Profile(
        user_id=user_id,
        **fields,
        timezone=timezone,
        language=language[:8],
        journey_phase=_journey_phase(document, first_name),
        burnout_score=score,
        burnout_band=band,
        burnout_confidence=confidence,
        pressure_zones=_zones(document.get("pressureZones")),
        zone_scores=_zone_scores(document.get("pressureZoneScores")),
        last_contact_at=lv.timestamp(document.get("lastContactAt")),
        last_proactive_message_at=lv.timestamp(document.get("lastProactiveMessageAt")),
        last_crisis_event_at=lv.timestamp(document.get("lastCrisisEventAt")),
        crisis_followup_count=lv.integer(document.get("crisisFollowupCount"), minimum=0, maximum=7)
        or 0,
        reactivation_message_count=lv.integer(
            document.get("reactivationMessageCount"), minimum=0, maximum=3
        )
        or 0,
        onboarding=_onboarding(document, fields),
        assessments_completed_at=completed,
        sms_opt_out=opted_out,
        opted_out_at=opted_out_at,
        opt_out_changed_at=opted_out_at,
        checkin_preference=checkin if checkin in ("daily", "weekly") else None,
        snooze_until=lv.timestamp(document.get("snoozeUntil")),
        version=1,
    )


def _recent_messages(document: Mapping[str, Any], user_id: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    raw = document.get("recentMessages")
    for position, item in enumerate(raw if isinstance(raw, list) else ()):
        message = lv.mapping(item)
        body = message.get("content")
        if not isinstance(body, str):
            continue
        role = lv.text(message.get("role"))
        entries.append(
            {
                "id": f"legacy:{user_id}:{position}",
                "direction": "inbound" if role == "user" else "outbound",
                "body": body,
                "at": lv.timestamp(message.get("timestamp")) or _EPOCH,
            }
        )
    return entries[-RECENT_MESSAGES_KEPT:]


def legacy_operator(
    document: Mapping[str, Any], user_id: str, phone: str, created: datetime, now: datetime
) -> Operator | None:
    """The admin's operator a legacy user with roles (`roles`, or `isAdmin`) becomes; None for
    the caregivers who held none."""
    raw = document.get("roles")
    names = {str(r).strip().lower() for r in raw} if isinstance(raw, list) else set()
    if lv.flag(document.get("isAdmin")):
        names.add("admin")
    roles = roles_of(names)
    if not roles:
        return None
    return Operator(id=user_id, phone=phone, roles=roles, created_at=created, updated_at=now)


def _has_billing(document: Mapping[str, Any]) -> bool:
    return bool(
        lv.text(document.get("stripeCustomerId")) or lv.text(document.get("subscriptionStatus"))
    )


def _insert(key: Any, fields: Mapping[str, Any]) -> InsertOne[Document]:
    return insert_if_absent(key, fields)


class SplitUsers(Migration):
    id: ClassVar[str] = ID
    description: ClassVar[str] = (
        "legacy users → users, user_profiles, conversation_state, billing_accounts (+ events)"
    )
    phase: ClassVar[Phase] = Phase.BACKFILL

    def __init__(
        self, databases: MigrationDatabases, *, now: datetime, default_timezone: str
    ) -> None:
        self.source = Target(databases.legacy, "users")
        self.users = Target(databases.sms_worker, USERS)
        self.operators = Target(databases.admin, MongoOperators.COLLECTION)
        self.profiles = Target(databases.sms_worker, PROFILES)
        self.conversations = Target(databases.sms_worker, CONVERSATIONS)
        self.sms_outbox = Target(databases.sms_worker, OUTBOX_COLLECTION)
        self.accounts = Target(databases.billing_worker, ACCOUNTS)
        self.customers = Target(databases.billing_worker, CUSTOMERS)
        self.billing_outbox = Target(databases.billing_worker, OUTBOX_COLLECTION)
        self.source_mark = self.source
        self._now = now
        self._default_timezone = default_timezone

    def targets(self) -> tuple[Target, ...]:
        return (
            self.users,
            self.operators,
            self.profiles,
            self.conversations,
            self.accounts,
            self.customers,
            self.sms_outbox,
            self.billing_outbox,
            # Last: only a legacy user whose every write landed is marked as migrated.
            self.source_mark,
        )

    async def prepare(self, client: MongoClient) -> None:
        # The unique phone and Stripe customer indexes turn a duplicate into a reported error.
        await ensure_indexes(client[self.users.database], sms_worker_indexes())
        await ensure_indexes(client[self.accounts.database], BILLING_INDEXES)
        await ensure_indexes(client[self.operators.database], operator_indexes())

    def plan(self, document: Document) -> Plan:
        user_id = legacy_user_id(document)
        phone = legacy_phone(document)
        created = lv.timestamp(document.get("createdAt")) or self._now
        updated = lv.timestamp(document.get("updatedAt")) or created
        profile = legacy_profile(document, user_id, default_timezone=self._default_timezone)
        marks = {
            MARK: MARK_VALUE,
            "created_at": created,
            "updated_at": self._now,
            "migrated_at": self._now,
        }
        plan = Plan()
        plan.add(
            self.users,
            _insert(
                user_id,
                {
                    "phone": phone,
                    "email": (lv.text(document.get("email")) or "").lower() or None,
                    **marks,
                },
            ),
        )
        operator = legacy_operator(document, user_id, phone, created, self._now)
        if operator is not None:
            plan.add(
                self.operators,
                MongoOperators.import_write(operator, {MARK: MARK_VALUE, "migrated_at": self._now}),
            )
        plan.add(
            self.profiles,
            _insert(user_id, {**profile_document(profile), **marks}),
        )
        recent = _recent_messages(document, user_id)
        plan.add(
            self.conversations,
            _insert(
                user_id,
                {
                    "user_id": user_id,
                    "recent_messages": recent,
                    "historical_summary": lv.text(document.get("historicalSummary")),
                    "historical_summary_version": lv.integer(
                        document.get("historicalSummaryVersion"), minimum=0
                    ),
                    "conversation_started_at": lv.timestamp(document.get("conversationStartDate"))
                    or created,
                    "total_interaction_count": lv.integer(
                        document.get("totalInteractionCount"), minimum=0
                    )
                    or 0,
                    "last_message_at": recent[-1]["at"] if recent else None,
                    **marks,
                },
            ),
        )
        for event in self._profile_events(profile, phone, updated):
            plan.add(self.sms_outbox, self._outbox_write(event))
        if _has_billing(document):
            self._plan_billing(plan, document, user_id, phone, updated, marks)
        plan.add(
            self.source_mark,
            UpdateOne(
                {"_id": document["_id"], SOURCE_MARK: {"$exists": False}},
                {"$set": {SOURCE_MARK: self._now}},
            ),
        )
        return plan

    def _profile_events(self, profile: Profile, phone: str, updated: datetime) -> Iterable[Any]:
        key = f"{ID}:{profile.user_id}"
        yield new_event(
            profile_snapshot(profile, phone, profile.version, updated),
            idempotency_key=key,
            correlation_id=key,
            occurred_at=self._now,
        )
        if profile.sms_opt_out:
            yield new_event(
                SmsOptOutChanged(
                    phone=phone,
                    opted_out=True,
                    source="migration",
                    user_id=profile.user_id,
                    changed_at=profile.opted_out_at or updated,
                ),
                idempotency_key=key,
                correlation_id=key,
                occurred_at=self._now,
            )

    def _plan_billing(
        self,
        plan: Plan,
        document: Mapping[str, Any],
        user_id: str,
        phone: str,
        updated: datetime,
        marks: Mapping[str, Any],
    ) -> None:
        customer = lv.text(document.get("stripeCustomerId"))
        status = lv.snake_key(document.get("subscriptionStatus"))
        period_end = lv.timestamp(document.get("currentPeriodEnd"))
        access = has_access(status, period_end, self._now)
        account: dict[str, Any] = {
            "user_id": user_id,
            "subscription_id": lv.text(document.get("stripeSubscriptionId")),
            "status": status,
            "current_period_end": period_end,
            "cancel_at_period_end": lv.flag(document.get("cancelAtPeriodEnd")) or False,
            "canceled_at": lv.timestamp(document.get("canceledAt")),
            "trial_end": lv.timestamp(document.get("trialEndsAt")),
            # The legacy app handled these moments already; the new one must not repeat them.
            "has_access": access,
            "access_announced": True,
            "welcomed_at": updated if access else None,
            "payment_notice_invoices": [],
            # No Stripe event applied yet: the first real one is newer than anything migrated.
            "last_event_at": None,
            "version": 1,
            **marks,
        }
        if customer is not None:
            account["stripe_customer_id"] = customer
            plan.add(
                self.customers,
                _insert(
                    customer,
                    {"phone": phone, "user_id": user_id, "linked_at": self._now, "writes": 1},
                ),
            )
        plan.add(self.accounts, _insert(phone, account))
        key = f"{ID}:{phone}"
        event = new_event(
            BillingAccessChanged(
                phone=phone,
                user_id=user_id,
                has_access=access,
                status=status or "none",
                current_period_end=period_end,
                changed_at=updated,
            ),
            idempotency_key=key,
            correlation_id=key,
            occurred_at=self._now,
        )
        plan.add(self.billing_outbox, self._outbox_write(event))

    def _outbox_write(self, event: Any) -> InsertOne[Document]:
        row = outbox_row(event, self._now)
        return _insert(row.pop("_id"), row)

    async def verify(self, client: MongoClient) -> VerifyReport:
        return await verify_split(self, client)

    async def rollback(self, client: MongoClient) -> Mapping[str, int]:
        """Delete what the backfill created (marked documents). Run it before cut-over only:
        events already relayed from the outboxes cannot be taken back."""
        return await undo_backfill(
            client,
            created_in=(
                self.users,
                self.operators,
                self.profiles,
                self.conversations,
                self.accounts,
            ),
            created_mark={MARK: MARK_VALUE},
            source=self.source,
            migrated_mark=SOURCE_MARK,
        )


async def verify_split(
    migration: SplitUsers, client: MongoClient, sample: int = 200
) -> VerifyReport:
    """Counts, then a field-by-field comparison of an evenly spread sample.

    Counts: every target holds one document per legacy user marked as migrated; every legacy
    user with a usable phone is either marked or a duplicate of a migrated phone (nothing
    migratable left behind); billing accounts match the marked users with Stripe data (while
    their fields are still there to tell). Sample: each sampled user's writes are recomputed
    from the source and compared with what is stored; a document the live system changed since
    the backfill (`updated_at` moved past `migrated_at`) is newer than its legacy copy and
    skipped. Legacy users already emptied by the cleanup are counted, not compared."""
    source = client[migration.source.database][migration.source.collection]

    def collection(target: Target) -> Any:
        return client[target.database][target.collection]

    total = await source.count_documents({})
    stride = max(1, total // sample)
    marked_count = cleaned = rejected = duplicates = left_behind = with_billing = with_roles = 0
    sampled: list[Document] = []
    async for position, document in _enumerate(source.find({}).sort("_id", 1)):
        marked = SOURCE_MARK in document
        marked_count += marked
        if marked and not any(field in document for field in MOVED_FIELDS):
            cleaned += 1
            continue
        try:
            phone = legacy_phone(document)
        except DocumentRejected:
            rejected += 1
            continue
        if not marked:
            # Not migrated: fine only when another legacy user's migration holds the phone.
            holder = await collection(migration.users).find_one({"phone": phone}, {"_id": 1})
            if holder is not None and holder["_id"] != legacy_user_id(document):
                duplicates += 1
            else:
                left_behind += 1
            continue
        with_billing += _has_billing(document)
        with_roles += legacy_operator(document, "", phone, _EPOCH, _EPOCH) is not None
        if position % stride == 0:
            sampled.append(document)
    created = {MARK: MARK_VALUE}
    counts = {
        "source": total,
        "migrated": marked_count,
        "cleaned_up": cleaned,
        "rejected": rejected,
        "duplicate_phones": duplicates,
        "left_behind": left_behind,
        "users": await collection(migration.users).count_documents(created),
        "user_profiles": await collection(migration.profiles).count_documents(created),
        "conversation_state": await collection(migration.conversations).count_documents(created),
        "with_billing": with_billing,
        "billing_accounts": await collection(migration.accounts).count_documents(created),
        "with_roles": with_roles,
        "operators": await collection(migration.operators).count_documents(created),
    }
    mismatches: list[dict[str, str]] = []
    for document in sampled:
        try:
            plan = migration.plan(document)
        except (DocumentRejected, ValueError, TypeError, KeyError):
            continue  # rejected by the run too, and reported in its error samples
        for target in (
            migration.users,
            migration.profiles,
            migration.conversations,
            migration.accounts,
        ):
            for write in plan.writes.get(target, []):
                expected = dict(write._doc)  # type: ignore[union-attr,arg-type]
                stored = await collection(target).find_one({"_id": expected.pop("_id")})
                mismatches.extend(
                    {"source_id": str(document["_id"]), "target": target.collection, "field": field}
                    for field in _differing_fields(expected, stored)
                )
        if await _operator_differs(migration, client, document):
            mismatches.append(
                {"source_id": str(document["_id"]), "target": OPERATORS, "field": "roles"}
            )
    # Once the cleanup emptied legacy users, their billing data and roles no longer count.
    billing_ok = (
        counts["billing_accounts"] == with_billing
        if cleaned == 0
        else counts["billing_accounts"] >= with_billing
    )
    roles_ok = (
        counts["operators"] == with_roles if cleaned == 0 else counts["operators"] >= with_roles
    )
    ok = (
        counts["users"] == marked_count
        and counts["user_profiles"] == marked_count
        and counts["conversation_state"] == marked_count
        and left_behind == 0
        and billing_ok
        and roles_ok
        and not mismatches
    )
    return VerifyReport(
        ok=ok, details={**counts, "sampled": len(sampled), "mismatches": mismatches[:50]}
    )


async def _operator_differs(
    migration: SplitUsers, client: MongoClient, document: Mapping[str, Any]
) -> bool:
    """Whether the operator the backfill made for a sampled user lost the legacy roles. An
    operator the admin already had, or changed since, is the live system's, not compared."""
    expected = legacy_operator(
        document, legacy_user_id(document), legacy_phone(document), _EPOCH, _EPOCH
    )
    if expected is None:
        return False
    target = migration.operators
    stored = await client[target.database][target.collection].find_one({"phone": expected.phone})
    if stored is None:
        return True
    if stored.get(MARK) != MARK_VALUE or normalised(stored.get("updated_at")) != normalised(
        stored.get("migrated_at")
    ):
        return False
    return roles_of(stored.get("roles", ())) != expected.roles


async def _enumerate(cursor: Any) -> Any:
    position = 0
    async for document in cursor:
        yield position, document
        position += 1


# Fields that are not the legacy copy's to decide.
_NOT_COMPARED: Final = frozenset({"updated_at", "migrated_at", "linked_at"})


def _differing_fields(expected: Mapping[str, Any], stored: Mapping[str, Any] | None) -> list[str]:
    if stored is not None and normalised(stored.get("updated_at")) != normalised(
        stored.get("migrated_at")
    ):
        return []  # changed by the live system since: newer than the legacy copy
    return differing_fields(expected, stored, ignore=_NOT_COMPARED)


def cleanup(databases: MigrationDatabases) -> UnsetMovedFields:
    """`003`: remove the fields 001 moved from the legacy users it migrated."""
    return UnsetMovedFields(
        migration_id=CLEANUP_ID,
        description="remove the fields 001 moved from the legacy users documents",
        after=ID,
        source=Target(databases.legacy, "users"),
        fields=MOVED_FIELDS,
        migrated_mark=SOURCE_MARK,
    )
