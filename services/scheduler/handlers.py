"""Event handlers of the scheduler: each feeds one fact into the proactive read model.

Each reads the user's record, applies the fact only if it is newer than what the record holds
(events of one user may arrive out of order), and saves the record with its revision raised and
`next_due_at` recomputed from the new facts, which the tick's compare-and-set relies on. Each
runs in one transaction with its inbox row (`SchedulerWork`), except a profile snapshot that
finds no placeholder of its number: one read and one write (a compare-and-set, or a first
record's insert), replay-safe on its own (`profile_snapshots`). Counters the scheduler itself
advances (follow-up and reactivation stages, last proactive time) never move backwards because
of a profile snapshot, unless the snapshot starts a new crisis or a new silence; only a
deferral gives back what a claim took.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from enum import StrEnum

import structlog

from services.scheduler.domain.rules import ProactiveState, release
from services.scheduler.metrics import SCHEDULER_DEFERRED
from services.scheduler.records import ProactiveRecord, placeholder_id
from services.scheduler.unit_of_work import ProactiveStates, SchedulerWork
from shared.clock import Clock
from shared.events import Envelope
from shared.events.catalog import (
    BillingAccessChanged,
    CrisisDetected,
    ProactiveMessageDeferred,
    SmsOptOutChanged,
    UserProfileChanged,
)

log = structlog.get_logger(__name__)


# Reads of a user's record a snapshot makes while other writes keep moving it, before the
# broker's retry takes over.
_SNAPSHOT_READS = 5


class ReleaseOutcome(StrEnum):
    """What a deferral did to the read model."""

    # The slot and stage were given back: the rules decide again in the next window.
    RELEASED = "released"
    # A newer claim has the slot (or the user is unknown): that message stands in for this one.
    SUPERSEDED = "superseded"
    # Given back already (a deferral of the same message under another event id).
    ALREADY_RELEASED = "already_released"


class StateChanged(Exception):
    """A record changed between its read and its save inside one transaction. A server with
    snapshot isolation reports that as a write conflict and reruns the transaction, so this
    needs two first events of one user racing to create it; the broker delivers it again."""


def _newer(moment: datetime | None, than: datetime | None) -> bool:
    return moment is not None and (than is None or moment > than)


def _new_record(profile: UserProfileChanged) -> ProactiveRecord:
    """The record of a user the scheduler has not heard of, before any fact is applied."""
    state = ProactiveState(
        profile.user_id, profile.timezone, profile.journey_phase, has_access=False
    )
    return ProactiveRecord(state, profile.phone)


def _with_placeholder(record: ProactiveRecord, placeholder: ProactiveRecord) -> ProactiveRecord:
    """`record` with the access its number's placeholder holds, if billing reported that one
    later (a new record has none). The snapshot's own opt-out flag stands over the
    placeholder's."""
    if not _newer(placeholder.access_changed_at, record.access_changed_at):
        return record
    return replace(
        record.with_state(has_access=placeholder.state.has_access),
        access_changed_at=placeholder.access_changed_at,
    )


def _with_profile(current: ProactiveRecord, profile: UserProfileChanged) -> ProactiveRecord:
    """`current` with the snapshot's facts."""
    old = current.state
    new_crisis = _newer(profile.last_crisis_event_at, old.last_crisis_event_at)
    # The user wrote since: a new silence, counted from the snapshot's count.
    new_contact = _newer(profile.last_contact_at, old.last_contact_at)
    changed = current.with_state(
        journey_phase=profile.journey_phase,
        timezone=profile.timezone,
        band=profile.burnout_band,
        last_contact_at=profile.last_contact_at,
        opted_out=profile.sms_opt_out,
        checkin_preference=profile.checkin_preference,
        snoozed_until=profile.snooze_until,
        last_crisis_event_at=(
            profile.last_crisis_event_at if new_crisis else old.last_crisis_event_at
        ),
        crisis_followup_count=(
            profile.crisis_followup_count
            if new_crisis
            else max(old.crisis_followup_count, profile.crisis_followup_count)
        ),
        reactivation_count=(
            profile.reactivation_message_count if new_contact else old.reactivation_count
        ),
    )
    return replace(changed, phone=profile.phone, profile_version=profile.version)


async def _user_and_placeholder(
    states: ProactiveStates, profile: UserProfileChanged
) -> tuple[ProactiveRecord | None, ProactiveRecord | None]:
    """The snapshot's user's record and its number's placeholder, in one read."""
    holder = placeholder_id(profile.phone)
    found = await states.get_many([profile.user_id, holder])
    return found.get(profile.user_id), found.get(holder)


class SchedulerHandlers:
    def __init__(self, clock: Clock, *, subscriptions_enabled: bool) -> None:
        self._clock = clock
        self._subscriptions_enabled = subscriptions_enabled
        # Outcomes of deferrals whose transaction has not finished yet, by event id: counted
        # once it has, so a transaction run again is not counted twice.
        self._releases: dict[uuid.UUID, ReleaseOutcome] = {}

    def _scheduled(self, record: ProactiveRecord) -> ProactiveRecord:
        now = self._clock.now()
        return record.rescheduled(now, subscriptions_enabled=self._subscriptions_enabled)

    async def _save(self, uow: SchedulerWork, record: ProactiveRecord) -> None:
        if not await uow.states.save(self._scheduled(record)):
            raise StateChanged(f"proactive_state {record.user_id} changed during the event")

    def profile_snapshots(
        self,
        states: ProactiveStates,
        in_transaction: Callable[[Envelope[UserProfileChanged]], Awaitable[None]],
    ) -> Callable[[Envelope[UserProfileChanged]], Awaitable[None]]:
        """`user.profile.changed`, on `states` outside any transaction and with no inbox row:
        one read of the user's record and their number's placeholder, then one write — a
        compare-and-set on the record, or, for a first snapshot, its insert (a save at
        revision 0 writes only if no record exists). A snapshot applies only over an older
        profile version, so a redelivery or replay changes nothing; a record that moved (or
        appeared) between read and write is read again. A snapshot that finds a placeholder
        takes it over, a delete and a save that go together: that goes to `in_transaction`
        (`profile_changed` in the inbox's transaction)."""

        async def handle(event: Envelope[UserProfileChanged]) -> None:
            profile = event.payload
            for _ in range(_SNAPSHOT_READS):
                current, placeholder = await _user_and_placeholder(states, profile)
                if placeholder is not None:
                    await in_transaction(event)
                    return
                if current is not None and current.profile_version >= profile.version:
                    return
                record = _with_profile(current or _new_record(profile), profile)
                if await states.save(self._scheduled(record)):
                    return
            raise StateChanged(f"proactive_state {profile.user_id} kept changing")

        return handle

    async def profile_changed(
        self, event: Envelope[UserProfileChanged], uow: SchedulerWork
    ) -> None:
        """`user.profile.changed` in one transaction: what `profile_snapshots` hands over when
        it finds a placeholder of the snapshot's number (any snapshot is applied alike). The
        record, or a new one, takes over the placeholder's access and the placeholder goes. A
        placeholder is made only for a number no record has (`_by_phone`), so it is usually a
        first snapshot's; one beside an existing record was left by a billing or opt-out event
        that raced the record's creation (docs/scheduler.md, "Placeholders"), and is folded
        in whatever the snapshot's version."""
        profile = event.payload
        current, placeholder = await _user_and_placeholder(uow.states, profile)
        newer = current is None or current.profile_version < profile.version
        if placeholder is None and not newer:
            return
        record = current or _new_record(profile)
        if placeholder is not None:
            await uow.states.delete(placeholder.user_id)
            record = _with_placeholder(record, placeholder)
        if newer:
            record = _with_profile(record, profile)
        await self._save(uow, record)

    async def crisis_detected(self, event: Envelope[CrisisDetected], uow: SchedulerWork) -> None:
        """A newer high-severity crisis restarts the follow-up cascade at stage 0."""
        crisis = event.payload
        if crisis.severity != "high":
            return
        record = await uow.states.get(crisis.user_id)
        if record is None or not _newer(crisis.detected_at, record.state.last_crisis_event_at):
            return
        changed = record.with_state(
            last_crisis_event_at=crisis.detected_at, crisis_followup_count=0
        )
        await self._save(uow, changed)

    async def opt_out_changed(self, event: Envelope[SmsOptOutChanged], uow: SchedulerWork) -> None:
        change = event.payload
        await self._by_phone(
            uow,
            change.phone,
            change.changed_at,
            stamp=lambda record: record.opt_out_changed_at,
            apply=lambda record: replace(
                record.with_state(opted_out=change.opted_out),
                opt_out_changed_at=change.changed_at,
            ),
        )

    async def access_changed(
        self, event: Envelope[BillingAccessChanged], uow: SchedulerWork
    ) -> None:
        change = event.payload
        await self._by_phone(
            uow,
            change.phone,
            change.changed_at,
            stamp=lambda record: record.access_changed_at,
            apply=lambda record: replace(
                record.with_state(has_access=change.has_access),
                access_changed_at=change.changed_at,
            ),
        )

    async def _by_phone(
        self,
        uow: SchedulerWork,
        phone: str,
        changed_at: datetime,
        *,
        stamp: Callable[[ProactiveRecord], datetime | None],
        apply: Callable[[ProactiveRecord], ProactiveRecord],
    ) -> None:
        """Apply a change stamped `changed_at` to every record of `phone` that holds an older
        one (newest wins). A user the scheduler has not heard of yet gets a placeholder keyed
        by phone, which the profile event later takes over (phone is the identity events
        share)."""
        records = await uow.states.with_phone(phone)
        for record in records:
            if _newer(changed_at, stamp(record)):
                await self._save(uow, apply(record))
        if not records:
            await self._save(uow, apply(ProactiveRecord.placeholder(phone)))

    async def proactive_deferred(
        self, event: Envelope[ProactiveMessageDeferred], uow: SchedulerWork
    ) -> None:
        """The SMS worker could not send a message now: give back what its claim took, if it is
        still the latest claim (`rules.release`), so the rules decide again in the recipient's
        next window."""
        deferred = event.payload
        record = await uow.states.get(deferred.user_id)
        latest = record.claim if record is not None else None
        if record is None or latest is None or latest.taken.key != deferred.message_key:
            outcome = ReleaseOutcome.SUPERSEDED
        elif latest.released_at is not None:
            outcome = ReleaseOutcome.ALREADY_RELEASED
        else:
            released = replace(
                record,
                state=release(record.state, latest.taken),
                claim=replace(
                    latest, released_at=self._clock.now(), deferral_reason=deferred.reason
                ),
            )
            await self._save(uow, released)
            outcome = ReleaseOutcome.RELEASED
        self._releases[event.id] = outcome

    def counted_deferrals(
        self, run: Callable[[Envelope[ProactiveMessageDeferred]], Awaitable[None]]
    ) -> Callable[[Envelope[ProactiveMessageDeferred]], Awaitable[None]]:
        """`run` (`proactive_deferred` in its transaction), counted and logged once committed."""

        async def handle(event: Envelope[ProactiveMessageDeferred]) -> None:
            try:
                await run(event)
                outcome = self._releases.get(event.id)
            finally:
                self._releases.pop(event.id, None)
            if outcome is None:
                return
            payload = event.payload
            SCHEDULER_DEFERRED.labels(payload.reason, outcome.value).inc()
            log.info(
                "proactive message deferred",
                outcome=outcome,
                reason=payload.reason,
                kind=payload.kind,
                stage=payload.stage,
                user_id=payload.user_id,
            )

        return handle
