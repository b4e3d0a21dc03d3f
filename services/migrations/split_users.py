"""`001_split_users`: the legacy hot `users` document → the split collections; `003` cleans up.

Each legacy user (one document of ~117 camelCase fields) becomes records that the owning
services' repositories write, in bulk (`insert_migrated`, `import_many`, `add_imported`): this
module decides what a legacy user means, never how or where a service stores it.

* `users` (SMS worker) — identity: `_id` = the legacy id as a string, so ids survive;
* an operator (admin, `operators`, keyed by phone) for a user who held admin roles, written
  through the admin's operators repository (`MongoOperators.import_many`): roles are the
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

Every write creates what is absent and nothing else (an insert keyed by the id, the operator's
an upsert on the phone that only inserts): the backfill never overwrites what the running
services wrote after cut-over, so replaying it is harmless and it can run while dual-writes are
on. A legacy user with no usable phone number is rejected
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

from pymongo import UpdateOne

from services.admin.records import Operator, roles_of
from services.admin.store import MongoOperators, operator_indexes
from services.billing_worker.domain.access import has_access
from services.billing_worker.records import CustomerLink, ImportedAccount
from services.billing_worker.store import (
    BILLING_INDEXES,
    MongoAccounts,
    MongoCustomers,
    migrated_account_document,
)
from services.billing_worker.views import BillingViews
from services.migrations import legacy_values as lv
from services.migrations.cleanup import UnsetMovedFields, unmark_source
from services.migrations.compare import differing_fields
from services.migrations.targets import MigrationDatabases
from services.sms_worker.domain.assessments import Band, band_for
from services.sms_worker.domain.instruments import Zone
from services.sms_worker.domain.onboarding import FIELDS as ONBOARDING_FIELDS
from services.sms_worker.domain.onboarding import OnboardingState
from services.sms_worker.domain.profile import Profile
from services.sms_worker.handlers import profile_snapshot
from services.sms_worker.records import (
    ConversationEntry,
    ImportedConversation,
    ImportedProfile,
    User,
)
from services.sms_worker.storage import (
    MongoConversations,
    MongoProfiles,
    MongoUsers,
    migrated_conversation_document,
    migrated_profile_document,
    migrated_user_document,
    sms_worker_indexes,
)
from services.sms_worker.views import MigratedRows, SmsWorkerMigrated, SmsWorkerViews
from shared.events import Envelope, new_event
from shared.events.catalog import BillingAccessChanged, SmsOptOutChanged
from shared.migrations import (
    Destination,
    DocumentRejected,
    Into,
    Migration,
    Phase,
    Plan,
    Target,
    VerifyReport,
)
from shared.mongo import Document, MongoClient, Provenance, changed_since_migrated, ensure_indexes
from shared.outbox import add_imported
from shared.phones import InvalidPhoneNumber, normalise_phone
from shared.timezones import timezone_for_zip

ID: Final = "001_split_users"
CLEANUP_ID: Final = "003_cleanup_split_users"
# The provenance every document the backfill created carries, for verify and rollback.
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


def _recent_messages(document: Mapping[str, Any], user_id: str) -> tuple[ConversationEntry, ...]:
    entries: list[ConversationEntry] = []
    raw = document.get("recentMessages")
    for position, item in enumerate(raw if isinstance(raw, list) else ()):
        message = lv.mapping(item)
        body = message.get("content")
        if not isinstance(body, str):
            continue
        role = lv.text(message.get("role"))
        entries.append(
            ConversationEntry(
                id=f"legacy:{user_id}:{position}",
                direction="inbound" if role == "user" else "outbound",
                body=body,
                at=lv.timestamp(message.get("timestamp")) or _EPOCH,
            )
        )
    return tuple(entries[-RECENT_MESSAGES_KEPT:])


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
        self.databases = databases
        # Every row the backfill creates carries it: what verify counts and rollback removes.
        self.provenance = Provenance(MARK_VALUE, now)
        provenance = self.provenance
        self.users = Into[User](
            "users",
            databases.sms_worker,
            lambda db, rows: MongoUsers(db).insert_migrated(rows, provenance),
        )
        self.operators = Into[Operator](
            "operators",
            databases.admin,
            lambda db, rows: MongoOperators(db).import_many(rows, provenance),
        )
        self.profiles = Into[ImportedProfile](
            "profiles",
            databases.sms_worker,
            lambda db, rows: MongoProfiles(db).insert_migrated(rows, provenance),
        )
        self.conversations = Into[ImportedConversation](
            "conversations",
            databases.sms_worker,
            lambda db, rows: MongoConversations(db).insert_migrated(rows, provenance),
        )
        self.sms_outbox = Into[Envelope[Any]](
            "outbox", databases.sms_worker, lambda db, rows: add_imported(db, rows, now)
        )
        self.accounts = Into[ImportedAccount](
            "billing accounts",
            databases.billing_worker,
            lambda db, rows: MongoAccounts(db).insert_migrated(rows, provenance),
        )
        self.customers = Into[CustomerLink](
            "billing customers",
            databases.billing_worker,
            lambda db, rows: MongoCustomers(db).insert_migrated(rows, now),
        )
        self.billing_outbox = Into[Envelope[Any]](
            "outbox", databases.billing_worker, lambda db, rows: add_imported(db, rows, now)
        )
        self.source_mark = self.source
        self._now = now
        self._default_timezone = default_timezone

    def targets(self) -> tuple[Destination, ...]:
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
        await ensure_indexes(client[self.databases.sms_worker], sms_worker_indexes())
        await ensure_indexes(client[self.databases.billing_worker], BILLING_INDEXES)
        await ensure_indexes(client[self.databases.admin], operator_indexes())

    def plan(self, document: Document) -> Plan:
        user_id = legacy_user_id(document)
        phone = legacy_phone(document)
        created = lv.timestamp(document.get("createdAt")) or self._now
        updated = lv.timestamp(document.get("updatedAt")) or created
        profile = legacy_profile(document, user_id, default_timezone=self._default_timezone)
        plan = Plan()
        email = (lv.text(document.get("email")) or "").lower() or None
        plan.add(self.users, User(id=user_id, phone=phone, created_at=created, email=email))
        operator = legacy_operator(document, user_id, phone, created, self._now)
        if operator is not None:
            plan.add(self.operators, operator)
        plan.add(self.profiles, ImportedProfile(profile, created))
        plan.add(
            self.conversations,
            ImportedConversation(
                user_id=user_id,
                entries=_recent_messages(document, user_id),
                summary=lv.text(document.get("historicalSummary")),
                summary_version=lv.integer(document.get("historicalSummaryVersion"), minimum=0),
                started_at=lv.timestamp(document.get("conversationStartDate")) or created,
                interactions=lv.integer(document.get("totalInteractionCount"), minimum=0) or 0,
                created_at=created,
            ),
        )
        for event in self._profile_events(profile, phone, updated):
            plan.add(self.sms_outbox, event)
        if _has_billing(document):
            self._plan_billing(plan, document, user_id, phone, updated, created)
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
        created: datetime,
    ) -> None:
        customer = lv.text(document.get("stripeCustomerId"))
        status = lv.snake_key(document.get("subscriptionStatus"))
        period_end = lv.timestamp(document.get("currentPeriodEnd"))
        access = has_access(status, period_end, self._now)
        if customer is not None:
            plan.add(self.customers, CustomerLink(customer, phone, user_id))
        plan.add(
            self.accounts,
            ImportedAccount(
                phone=phone,
                user_id=user_id,
                customer_id=customer,
                subscription_id=lv.text(document.get("stripeSubscriptionId")),
                status=status,
                current_period_end=period_end,
                cancel_at_period_end=lv.flag(document.get("cancelAtPeriodEnd")) or False,
                canceled_at=lv.timestamp(document.get("canceledAt")),
                trial_end=lv.timestamp(document.get("trialEndsAt")),
                has_access=access,
                # The legacy app handled these moments already; the new one must not repeat them.
                access_announced=True,
                welcomed_at=updated if access else None,
                created_at=created,
            ),
        )
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
        plan.add(self.billing_outbox, event)

    async def verify(self, client: MongoClient) -> VerifyReport:
        return await verify_split(self, client)

    async def rollback(self, client: MongoClient) -> Mapping[str, int]:
        """Delete what the backfill created (rows carrying its provenance), through each owning
        repository. Run it before cut-over only: events already relayed from the outboxes
        cannot be taken back."""
        sms = client[self.databases.sms_worker]
        counts = {
            "users": await MongoUsers(sms).delete_migrated(MARK_VALUE),
            "operators": await MongoOperators(client[self.databases.admin]).delete_migrated(
                MARK_VALUE
            ),
            "user_profiles": await MongoProfiles(sms).delete_migrated(MARK_VALUE),
            "conversation_state": await MongoConversations(sms).delete_migrated(MARK_VALUE),
            "billing_accounts": await MongoAccounts(
                client[self.databases.billing_worker]
            ).delete_migrated(MARK_VALUE),
        }
        return {**counts, **await unmark_source(client, self.source, SOURCE_MARK)}


async def verify_split(
    migration: SplitUsers, client: MongoClient, sample: int = 200
) -> VerifyReport:
    """Counts, then a field-by-field comparison of an evenly spread sample.

    Counts: every target holds one document per legacy user marked as migrated; every legacy
    user with a usable phone is either marked or a duplicate of a migrated phone (nothing
    migratable left behind); billing accounts match the marked users with Stripe data (while
    their fields are still there to tell). Sample: each sampled user's rows are recomputed
    from the source, turned into documents by the owning repositories' own conversion, and
    compared with what the services' read modules return; a document the live system changed
    since the backfill (`updated_at` moved past `migrated_at`) is newer than its legacy copy
    and skipped. Legacy users already emptied by the cleanup are counted, not compared."""
    source = client[migration.source.database][migration.source.collection]
    sms = SmsWorkerViews(client[migration.databases.sms_worker])
    migrated = SmsWorkerMigrated(client[migration.databases.sms_worker])
    billing = BillingViews(client[migration.databases.billing_worker])
    operators = MongoOperators(client[migration.databases.admin])

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
            holder = await sms.user_by_phone(phone)
            if holder is not None and holder.id != legacy_user_id(document):
                duplicates += 1
            else:
                left_behind += 1
            continue
        with_billing += _has_billing(document)
        with_roles += legacy_operator(document, "", phone, _EPOCH, _EPOCH) is not None
        if position % stride == 0:
            sampled.append(document)
    counts = {
        "source": total,
        "migrated": marked_count,
        "cleaned_up": cleaned,
        "rejected": rejected,
        "duplicate_phones": duplicates,
        "left_behind": left_behind,
        "users": await migrated.count(MigratedRows.USERS, MARK_VALUE),
        "user_profiles": await migrated.count(MigratedRows.PROFILES, MARK_VALUE),
        "conversation_state": await migrated.count(MigratedRows.CONVERSATIONS, MARK_VALUE),
        "with_billing": with_billing,
        "billing_accounts": await billing.migrated_accounts(MARK_VALUE),
        "with_roles": with_roles,
        "operators": await operators.migrated_count(MARK_VALUE),
    }
    provenance = migration.provenance
    mismatches: list[dict[str, str]] = []
    for document in sampled:
        try:
            plan = migration.plan(document)
        except (DocumentRejected, ValueError, TypeError, KeyError):
            continue  # rejected by the run too, and reported in its error samples
        expected: list[tuple[str, Document, Document | None]] = []
        for user in plan.writes.get(migration.users, []):
            row = migrated_user_document(user, provenance)
            expected.append(("users", row, await migrated.row(MigratedRows.USERS, row["_id"])))
        for imported in plan.writes.get(migration.profiles, []):
            row = migrated_profile_document(imported, provenance)
            stored = await migrated.row(MigratedRows.PROFILES, row["_id"])
            expected.append(("user_profiles", row, stored))
        for conversation in plan.writes.get(migration.conversations, []):
            row = migrated_conversation_document(conversation, provenance)
            stored = await migrated.row(MigratedRows.CONVERSATIONS, row["_id"])
            expected.append(("conversation_state", row, stored))
        for account in plan.writes.get(migration.accounts, []):
            row = migrated_account_document(account, provenance)
            expected.append(("billing_accounts", row, await billing.account_as_stored(row["_id"])))
        for target, row, stored in expected:
            row.pop("_id")
            mismatches.extend(
                {"source_id": str(document["_id"]), "target": target, "field": field}
                for field in _differing_fields(row, stored)
            )
        if await _operator_differs(operators, document):
            mismatches.append(
                {"source_id": str(document["_id"]), "target": "operators", "field": "roles"}
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


async def _operator_differs(operators: MongoOperators, document: Mapping[str, Any]) -> bool:
    """Whether the operator the backfill made for a sampled user lost the legacy roles. An
    operator the admin already had, or changed since, is the live system's, not compared."""
    expected = legacy_operator(
        document, legacy_user_id(document), legacy_phone(document), _EPOCH, _EPOCH
    )
    if expected is None:
        return False
    if await operators.by_phone(expected.phone) is None:
        return True
    imported = await operators.unchanged_import(expected.phone, MARK_VALUE)
    return imported is not None and imported.roles != expected.roles


async def _enumerate(cursor: Any) -> Any:
    position = 0
    async for document in cursor:
        yield position, document
        position += 1


# Fields that are not the legacy copy's to decide.
_NOT_COMPARED: Final = frozenset({"updated_at", "migrated_at", "linked_at"})


def _differing_fields(expected: Mapping[str, Any], stored: Document | None) -> list[str]:
    if stored is not None and changed_since_migrated(stored):
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
