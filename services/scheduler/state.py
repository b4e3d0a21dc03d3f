"""The scheduler's read model: one `proactive_state` document per user, fed only by events.

Each event handler applies its facts idempotently (newer-than checks, not blind overwrites) and
recomputes `next_due_at`, the earliest moment any rule could fire, which the tick's index reads.
Counters the scheduler itself advances (follow-up and reactivation stages, last proactive time)
never move backwards because of a profile snapshot, unless the snapshot starts a new crisis or
a new silence; only a deferral (`proactive.message.deferred`) gives back what a claim took.

Every write that changes a fact raises the document's `revision`; every `next_due_at` write is a
compare-and-set on the revision it was computed from, so a value computed from an older state
never overwrites one computed from a newer state (whose writer recomputes it anyway).
"""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from services.scheduler.rules import (
    Claim,
    Counters,
    Kind,
    ProactiveState,
    next_due_at,
    release,
)
from shared.events.catalog import (
    BillingAccessChanged,
    CrisisDetected,
    ProactiveMessageDeferred,
    SmsOptOutChanged,
    UserProfileChanged,
)
from shared.mongo import Document, IndexDeclarations, unset_or_before

PROACTIVE_STATE = "proactive_state"
# The compare-and-set marker: raised by every write that changes what `next_due_at` reads.
REVISION: Final = "revision"
# The latest claim (see `rules.Claim`).
CLAIM: Final = "claim"
# What a claim advances and a deferral may give back: fields of the same names in the document.
_COUNTERS: Final = tuple(field.name for field in fields(Counters))
_RELEASE_ATTEMPTS: Final = 5

SCHEDULER_INDEXES: IndexDeclarations = {
    PROACTIVE_STATE: [
        IndexModel([("next_due_at", ASCENDING)], name="due", sparse=True),
        IndexModel([("phone", ASCENDING)], name="phone"),
    ],
    "scheduler_runs": [
        IndexModel([("started_at", ASCENDING)], name="runs_ttl", expireAfterSeconds=14 * 86_400)
    ],
}

StateCollection = AsyncCollection[Document]


def to_rules_state(document: Document, *, subscriptions_enabled: bool) -> ProactiveState:
    return ProactiveState(
        user_id=document["_id"],
        timezone=document.get("timezone") or "America/New_York",
        journey_phase=document.get("journey_phase", "onboarding"),
        band=document.get("band"),
        last_contact_at=document.get("last_contact_at"),
        last_crisis_event_at=document.get("last_crisis_event_at"),
        crisis_followup_count=document.get("crisis_followup_count", 0),
        reactivation_count=document.get("reactivation_count", 0),
        last_reactivation_at=document.get("last_reactivation_at"),
        last_checkin_at=document.get("last_checkin_at"),
        last_proactive_at=document.get("last_proactive_at"),
        opted_out=bool(document.get("opted_out", False)),
        has_access=bool(document.get("has_access", False)) or not subscriptions_enabled,
        checkin_preference=document.get("checkin_preference"),
        snoozed_until=document.get("snoozed_until"),
        deferred_key=document.get("deferred_key"),
        deferrals=document.get("deferrals", 0),
    )


def counter_fields(state: ProactiveState) -> Document:
    """The claim-advanced fields of `state`, as the document stores them."""
    return {name: getattr(state, name) for name in _COUNTERS}


def claim_document(taken: Claim) -> Document:
    return {
        "key": taken.key,
        "base_key": taken.base_key,
        "kind": taken.kind.value,
        "stage": taken.stage,
        "at": taken.at,
        "crisis_at": taken.crisis_at,
        "before": asdict(taken.before),
    }


def claim_from_document(document: Document) -> Claim:
    return Claim(
        key=document["key"],
        base_key=document["base_key"],
        kind=Kind(document["kind"]),
        stage=document["stage"],
        at=document["at"],
        crisis_at=document.get("crisis_at"),
        before=Counters(**document["before"]),
    )


class ReleaseOutcome(StrEnum):
    """What a deferral did to the read model."""

    # The slot and stage were given back: the rules decide again in the next window.
    RELEASED = "released"
    # A newer claim has the slot (or the user is unknown): that message stands in for this one.
    SUPERSEDED = "superseded"
    # Given back already (a redelivered deferral).
    ALREADY_RELEASED = "already_released"


class StateChanged(Exception):
    """The document kept changing under a compare-and-set; the event is retried."""


class ProactiveStateStore:
    def __init__(self, collection: StateCollection, *, subscriptions_enabled: bool) -> None:
        self._collection = collection
        self._subscriptions_enabled = subscriptions_enabled

    async def _recompute(
        self, user_id: str, now: datetime, session: AsyncClientSession | None
    ) -> None:
        document = await self._collection.find_one({"_id": user_id}, session=session)
        if document is None:
            return
        state = to_rules_state(document, subscriptions_enabled=self._subscriptions_enabled)
        # Not applied if a newer write came in since the read: its writer recomputes.
        await self._collection.update_one(
            {"_id": user_id, REVISION: document.get(REVISION)},
            {"$set": {"next_due_at": next_due_at(state, now)}},
            session=session,
        )

    async def apply_profile(
        self, profile: UserProfileChanged, now: datetime, session: AsyncClientSession | None
    ) -> None:
        current = await self._collection.find_one({"_id": profile.user_id}, session=session) or {}
        if current.get("profile_version", 0) >= profile.version:
            return
        placeholder = await self._collection.find_one_and_delete(
            {"_id": f"phone:{profile.phone}"}, session=session
        )
        update: dict[str, Any] = {
            "phone": profile.phone,
            "profile_version": profile.version,
            "journey_phase": profile.journey_phase,
            "timezone": profile.timezone,
            "band": profile.burnout_band,
            "last_contact_at": profile.last_contact_at,
            "opted_out": profile.sms_opt_out,
            "checkin_preference": profile.checkin_preference,
            "snoozed_until": profile.snooze_until,
        }
        new_crisis = profile.last_crisis_event_at is not None and (
            current.get("last_crisis_event_at") is None
            or profile.last_crisis_event_at > current["last_crisis_event_at"]
        )
        if new_crisis:
            update["last_crisis_event_at"] = profile.last_crisis_event_at
            update["crisis_followup_count"] = profile.crisis_followup_count
        else:
            update["crisis_followup_count"] = max(
                current.get("crisis_followup_count", 0), profile.crisis_followup_count
            )
        new_contact = profile.last_contact_at is not None and (
            current.get("last_contact_at") is None
            or profile.last_contact_at > current["last_contact_at"]
        )
        if new_contact:
            # The user wrote: a new silence, counted from zero.
            update["reactivation_count"] = profile.reactivation_message_count
        if placeholder and "has_access" in placeholder and "has_access" not in current:
            update["has_access"] = placeholder["has_access"]
            update["access_changed_at"] = placeholder.get("access_changed_at")
        operations: dict[str, Any] = {"$set": update, "$inc": {REVISION: 1}}
        if "has_access" not in update:
            operations["$setOnInsert"] = {"has_access": False}
        await self._collection.update_one(
            {"_id": profile.user_id},
            operations,
            upsert=True,
            session=session,
        )
        await self._recompute(profile.user_id, now, session)

    async def apply_crisis(
        self, crisis: CrisisDetected, now: datetime, session: AsyncClientSession | None
    ) -> None:
        if crisis.severity != "high":
            return
        result = await self._collection.update_one(
            {"_id": crisis.user_id, **unset_or_before("last_crisis_event_at", crisis.detected_at)},
            {
                "$set": {"last_crisis_event_at": crisis.detected_at, "crisis_followup_count": 0},
                "$inc": {REVISION: 1},
            },
            session=session,
        )
        if result.modified_count:
            await self._recompute(crisis.user_id, now, session)

    async def apply_opt_out(
        self, change: SmsOptOutChanged, now: datetime, session: AsyncClientSession | None
    ) -> None:
        await self._apply_by_phone(
            change.phone,
            {"opted_out": change.opted_out, "opt_out_changed_at": change.changed_at},
            "opt_out_changed_at",
            change.changed_at,
            now,
            session,
        )

    async def apply_access(
        self, change: BillingAccessChanged, now: datetime, session: AsyncClientSession | None
    ) -> None:
        await self._apply_by_phone(
            change.phone,
            {"has_access": change.has_access, "access_changed_at": change.changed_at},
            "access_changed_at",
            change.changed_at,
            now,
            session,
        )

    async def _apply_by_phone(
        self,
        phone: str,
        fields: dict[str, Any],
        stamp: str,
        changed_at: datetime,
        now: datetime,
        session: AsyncClientSession | None,
    ) -> None:
        # A user the scheduler has not heard of yet gets a placeholder keyed by phone; the
        # profile event later fills it in (phone is the identity events share).
        matched = False
        async for document in self._collection.find({"phone": phone}, {"_id": 1}, session=session):
            matched = True
            await self._collection.update_one(
                {"_id": document["_id"], **unset_or_before(stamp, changed_at)},
                {"$set": fields, "$inc": {REVISION: 1}},
                session=session,
            )
            await self._recompute(document["_id"], now, session)
        if not matched:
            await self._collection.update_one(
                {"_id": f"phone:{phone}"},
                {"$set": {**fields, "phone": phone, "journey_phase": "unknown"}},
                upsert=True,
                session=session,
            )

    async def release_claim(
        self,
        deferred: ProactiveMessageDeferred,
        now: datetime,
        session: AsyncClientSession | None,
    ) -> ReleaseOutcome:
        """Give back what the claim of the deferred message took, if it is still the latest
        claim (`rules.release`), and recompute `next_due_at`: one compare-and-set."""
        for _ in range(_RELEASE_ATTEMPTS):
            document = await self._collection.find_one({"_id": deferred.user_id}, session=session)
            stored = document.get(CLAIM) if document is not None else None
            if document is None or stored is None or stored["key"] != deferred.message_key:
                return ReleaseOutcome.SUPERSEDED
            if stored.get("released_at") is not None:
                return ReleaseOutcome.ALREADY_RELEASED
            state = to_rules_state(document, subscriptions_enabled=self._subscriptions_enabled)
            after = release(state, claim_from_document(stored))
            result = await self._collection.update_one(
                {"_id": deferred.user_id, REVISION: document.get(REVISION)},
                {
                    "$set": {
                        **counter_fields(after),
                        "deferred_key": after.deferred_key,
                        "deferrals": after.deferrals,
                        f"{CLAIM}.released_at": now,
                        f"{CLAIM}.deferral_reason": deferred.reason,
                        "next_due_at": next_due_at(after, now),
                    },
                    "$inc": {REVISION: 1},
                },
                session=session,
            )
            if result.modified_count == 1:
                return ReleaseOutcome.RELEASED
        raise StateChanged(f"proactive_state changed {_RELEASE_ATTEMPTS} times during a release")
