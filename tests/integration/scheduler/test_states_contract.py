"""`proactive_state`'s repository: the fake and the real server agree on every method the
handlers and the tick use, and on the unit of work around them (all or nothing with `emit`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from services.scheduler.domain.rules import Claim, Counters, Kind, ProactiveState
from services.scheduler.records import LatestClaim, ProactiveRecord, placeholder_id
from services.scheduler.repositories import PROACTIVE_STATE, MongoProactiveStates
from services.scheduler.unit_of_work import SchedulerWork
from shared.events import new_event
from shared.events.catalog import ProactiveMessageDue
from shared.mongo import Database
from tests.integration.scheduler.conftest import CONTRACT_NOW as NOW
from tests.integration.scheduler.conftest import Backend

pytestmark = pytest.mark.integration

PHONE = "+15551230000"
HOUR = timedelta(hours=1)


def _record(user_id: str = "u1", phone: str = PHONE, **changes: object) -> ProactiveRecord:
    """A record with every field set, so a round trip that dropped one would show."""
    state = ProactiveState(
        user_id=user_id,
        timezone="America/Chicago",
        journey_phase="active",
        band="high",
        last_contact_at=NOW - 50 * HOUR,
        last_crisis_event_at=NOW - 30 * HOUR,
        crisis_followup_count=1,
        reactivation_count=2,
        last_reactivation_at=NOW - 20 * HOUR,
        last_checkin_at=NOW - 10 * HOUR,
        last_proactive_at=NOW - 5 * HOUR,
        opted_out=False,
        has_access=True,
        checkin_preference="weekly",
        snoozed_until=NOW + HOUR,
        deferred_key="proactive:u1:checkin:2026-01-14",
        deferrals=2,
    )
    claim = Claim(
        key="proactive:u1:crisis_followup:20260114T090000:1",
        base_key="proactive:u1:crisis_followup:20260114T090000:1",
        kind=Kind.CRISIS_FOLLOWUP,
        stage=1,
        at=NOW - 5 * HOUR,
        crisis_at=NOW - 30 * HOUR,
        before=Counters(NOW - 40 * HOUR, 0, 2, NOW - 20 * HOUR, NOW - 10 * HOUR),
    )
    record = ProactiveRecord(
        state=state,
        phone=phone,
        next_due_at=NOW + 3 * HOUR,
        profile_version=4,
        opt_out_changed_at=NOW - 60 * HOUR,
        access_changed_at=NOW - 70 * HOUR,
        claim=LatestClaim(claim, released_at=NOW - 4 * HOUR, deferral_reason="late"),
        churned_at=NOW - 80 * HOUR,
    )
    return replace(record, **changes)  # type: ignore[arg-type]


async def _saved(backend: Backend, record: ProactiveRecord) -> ProactiveRecord:
    assert await backend.store.states.save(record)
    stored = await backend.store.states.get(record.user_id)
    assert stored is not None
    return stored


async def test_a_saved_record_reads_back_whole_at_the_next_revision(backend: Backend) -> None:
    states = backend.store.states
    assert await states.get("u1") is None
    record = _record()
    assert await _saved(backend, record) == replace(record, revision=1)
    placeholder = ProactiveRecord.placeholder(PHONE)
    assert await _saved(backend, placeholder) == replace(placeholder, revision=1)


async def test_a_save_is_a_compare_and_set_on_the_revision(backend: Backend) -> None:
    states = backend.store.states
    first = await _saved(backend, _record())
    second = await _saved(backend, first.with_state(band="mild"))
    assert second.revision == 2
    # Written from the older read: refused, the newer write stands.
    assert not await states.save(first.with_state(band="crisis"))
    assert not await states.save(_record())  # "new" while one is stored
    assert not await states.save(_record("u2", revision=3))  # a read of a record never stored
    assert await states.get("u1") == second
    assert await states.get("u2") is None


async def test_next_due_is_set_only_at_the_read_revision_and_keeps_it(backend: Backend) -> None:
    states = backend.store.states
    stored = await _saved(backend, _record())
    assert await states.set_next_due(stored, NOW + 9 * HOUR)
    assert await states.get("u1") == replace(stored, next_due_at=NOW + 9 * HOUR)
    assert await states.set_next_due(stored, None)  # the revision did not move
    assert (await states.get("u1")) == replace(stored, next_due_at=None)

    newer = await _saved(backend, stored.with_state(band="mild"))
    assert not await states.set_next_due(stored, NOW)
    assert not await states.set_next_due(_record("u2", revision=1), NOW)
    assert await states.get("u1") == newer
    assert await states.get("u2") is None


async def test_due_records_come_earliest_first_up_to_the_limit(backend: Backend) -> None:
    states = backend.store.states
    for user_id, due in [("late", NOW), ("early", NOW - 2 * HOUR), ("mid", NOW - HOUR)]:
        await _saved(backend, _record(user_id, f"+1555000000{len(user_id)}", next_due_at=due))
    await _saved(backend, _record("future", "+15550000009", next_due_at=NOW + HOUR))
    await _saved(backend, _record("never", "+15550000008", next_due_at=None))
    assert [r.user_id for r in await states.due(NOW, 10)] == ["early", "mid", "late"]
    assert [r.user_id for r in await states.due(NOW, 2)] == ["early", "mid"]
    assert await states.due(NOW - 3 * HOUR, 10) == []
    [early] = await states.due(NOW - 2 * HOUR, 10)
    assert early == await states.get("early")


async def test_records_of_a_phone_and_deletion(backend: Backend) -> None:
    states = backend.store.states
    user = await _saved(backend, _record())
    placeholder = await _saved(backend, ProactiveRecord.placeholder(PHONE))
    await _saved(backend, _record("u2", "+15559990000"))
    found = await states.with_phone(PHONE)
    assert sorted(found, key=lambda r: r.user_id) == [placeholder, user]
    assert await states.with_phone("+15550000000") == []

    await states.delete(placeholder_id(PHONE))
    await states.delete("nobody")
    assert await states.with_phone(PHONE) == [user]
    assert await states.get(placeholder_id(PHONE)) is None


async def test_records_are_read_together_by_id(backend: Backend) -> None:
    states = backend.store.states
    user = await _saved(backend, _record())
    placeholder = await _saved(backend, ProactiveRecord.placeholder(PHONE))
    await _saved(backend, _record("u2", "+15559990000"))
    holder = placeholder_id(PHONE)
    assert await states.get_many(["u1", holder]) == {"u1": user, holder: placeholder}
    assert await states.get_many(("nobody", "u1")) == {"u1": user}
    assert await states.get_many({"nobody", "phone:+15550000000"}) == {}
    assert await states.get_many([]) == {}

    async def read_after_a_save(uow: SchedulerWork) -> dict[str, ProactiveRecord]:
        assert await uow.states.save(_record("u3", "+15558880000"))
        return await uow.states.get_many(["u3", "u1"])

    inside = await backend.transactions.run(read_after_a_save)
    assert inside == {"u1": user, "u3": await states.get("u3")}


class Abandoned(Exception):
    pass


async def test_a_transaction_keeps_its_save_and_its_event_together(backend: Backend) -> None:
    record = _record()
    event = new_event(
        ProactiveMessageDue(user_id="u1", phone=PHONE, kind="checkin", stage=0, due_at=NOW),
        idempotency_key="proactive:u1:checkin:2026-01-15",
    )

    async def claim(uow: SchedulerWork) -> None:
        assert await uow.states.save(record)
        await uow.emit(event)
        raise Abandoned

    with pytest.raises(Abandoned):
        await backend.transactions.run(claim)
    assert await backend.store.states.get("u1") is None
    assert await backend.emitted() == set()

    async def commit(uow: SchedulerWork) -> ProactiveRecord | None:
        assert await uow.states.save(record)
        await uow.emit(event)
        return await uow.states.get("u1")

    seen_inside = await backend.transactions.run(commit)
    assert seen_inside == await backend.store.states.get("u1") == replace(record, revision=1)
    assert await backend.emitted() == {str(event.id)}


async def test_a_document_from_before_revisions_reads_as_revision_0(db: Database) -> None:
    """Real server only: data written before `revision` existed (and by older code with fewer
    fields) reads with defaults and is saved over like a new record."""
    await db[PROACTIVE_STATE].insert_one(
        {"_id": "old", "phone": PHONE, "journey_phase": "active", "timezone": None}
    )
    states = MongoProactiveStates(db, None)
    old = await states.get("old")
    assert old is not None
    assert (old.revision, old.state.timezone, old.state.has_access, old.claim) == (
        0,
        "America/New_York",
        False,
        None,
    )
    assert await states.save(old.with_state(band="mild"))
    assert (await states.get("old")) == replace(old.with_state(band="mild"), revision=1)
