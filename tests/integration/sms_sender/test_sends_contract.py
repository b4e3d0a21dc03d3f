"""The sends repository's contract, on the fake and on the real server alike: one send per key,
the claim's compare-and-set (one winner among racing senders, a takeover only after the lease),
outcomes and releases keyed by the claim token, the one move back (an exhausted send reopened),
forward-only provider statuses set aside on a claimed send, the reads other services make — and
that writes in a unit of work go with it when it fails."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.sms_sender.records import (
    RETRIES_EXHAUSTED,
    Attempt,
    Claim,
    SendOutcome,
    SendRecord,
)
from services.sms_sender.unit_of_work import SenderWork
from services.sms_sender.updates import send_updated
from shared.events import Envelope
from tests.integration.sms_sender.conftest import SenderRepositories, SendLedger

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
PHONE = "+15551230001"


def pending(key: str, **changes: object) -> SendRecord:
    send = SendRecord(
        key=key,
        to_number=PHONE,
        body="How are you sleeping this week?",
        kind="reply",
        user_id="user-1",
        compliance=False,
        status="pending",
        event_id="0191f7a4-0000-7000-8000-000000000001",
        correlation_id="corr-1",
        causation_id=None,
        requested_at=NOW - timedelta(seconds=1),
        created_at=NOW,
        updated_at=NOW,
        encoding="GSM-7",
        units=31,
        segments=1,
        next_attempt_at=NOW,
    )
    return replace(send, **changes)  # type: ignore[arg-type]


async def claimed(sends: SendLedger, key: str, token: str = "t1", at: datetime = NOW) -> Claim:
    claim = await sends.claim(key, token, at, at + LEASE)
    assert claim is not None, f"{key} was not claimed"
    return claim


def step(after: SendRecord) -> list[Envelope[Any]]:
    """What an outcome publishes: the send's step, from the send as the outcome leaves it."""
    assert after.updated_at is not None
    return [send_updated(after, after.status, after.updated_at)]


def outcome(status: str, at: datetime = NOW, attempt: int = 1, **fields: object) -> SendOutcome:
    return SendOutcome(status, at, Attempt(attempt, at, status), **fields)  # type: ignore[arg-type]


async def test_a_send_is_recorded_once_and_read_back_as_recorded(
    repositories: SenderRepositories,
) -> None:
    sends = repositories.sends
    send = pending("reply:1")

    assert await sends.record(send)
    assert not await sends.record(replace(send, body="another body"))

    assert await sends.get("reply:1") == send
    assert await sends.get("reply:2") is None


async def test_of_racing_claims_exactly_one_wins_and_a_lease_holds_until_it_runs_out(
    repositories: SenderRepositories,
) -> None:
    sends = repositories.sends
    await sends.record(pending("reply:1", next_attempt_at=NOW + timedelta(seconds=5)))
    assert await sends.claim("reply:1", "early", NOW, NOW + LEASE) is None  # not due yet

    later = NOW + timedelta(seconds=5)
    claims = await asyncio.gather(
        *(sends.claim("reply:1", f"t{n}", later, later + LEASE) for n in range(4))
    )
    [claim] = [c for c in claims if c is not None]
    assert (claim.send.status, claim.attempt, claim.claimed_at) == ("pending", 1, later)
    now_claimed = await sends.get("reply:1")
    assert now_claimed is not None
    assert (now_claimed.status, now_claimed.claim, now_claimed.attempts) == (
        "sending",
        claim.token,
        1,
    )
    assert now_claimed.lease_until == later + LEASE

    assert await sends.claim("reply:1", "x", later + LEASE - timedelta(seconds=1), NOW) is None
    takeover = await claimed(sends, "reply:1", "t-next", later + LEASE)
    assert (takeover.send.status, takeover.send.claim, takeover.attempt) == (
        "sending",
        claim.token,
        2,
    )


async def test_due_sends_are_retries_whose_time_came_then_expired_leases(
    repositories: SenderRepositories,
) -> None:
    sends = repositories.sends
    await sends.record(pending("due"))
    await sends.record(pending("later", next_attempt_at=NOW + timedelta(minutes=1)))
    long_ago = NOW - LEASE - timedelta(seconds=1)
    await sends.record(pending("held", next_attempt_at=long_ago))
    await sends.record(pending("done", status="sent", next_attempt_at=None))
    await claimed(sends, "held", at=long_ago)
    await sends.record(pending("busy"))
    await claimed(sends, "busy")

    assert await sends.due_keys(NOW, 10) == ["due", "held"]
    assert len(await sends.due_keys(NOW, 1)) == 1


async def test_an_outcome_is_recorded_only_by_the_claims_holder(
    repositories: SenderRepositories,
) -> None:
    sends = repositories.sends
    await sends.record(pending("reply:1", next_attempt_at=NOW - LEASE))
    lost = await claimed(sends, "reply:1", "lost", NOW - LEASE)
    claim = replace(await claimed(sends, "reply:1", "holder"), cap_slot_at=NOW)

    assert await sends.finish(lost, outcome("failed", reason="late"), step) is None
    sent = outcome(
        "sent", attempt=2, provider_sid="SM1", transport="twilio", sent_at=NOW, error=None
    )
    after = await sends.finish(claim, sent, step)

    assert after is not None
    assert after == await sends.get("reply:1")
    assert (after.status, after.provider_sid, after.transport, after.sent_at) == (
        "sent",
        "SM1",
        "twilio",
        NOW,
    )
    assert (after.claim, after.lease_until, after.next_attempt_at) == (None, None, None)
    assert (after.cap_slot_at, after.attempts, after.updated_at) == (NOW, 2, NOW)
    assert after.history == (Attempt(2, NOW, "sent"),)
    assert await sends.finish(claim, outcome("failed"), step) is None  # the claim is released
    # Only the holder's outcome published its step, from the send as the write left it.
    assert [e.payload for e in repositories.emitted] == [step(after)[0].payload]


async def test_a_release_for_retry_keeps_the_earliest_doubt_and_its_place_under_the_cap(
    repositories: SenderRepositories,
) -> None:
    sends = repositories.sends
    await sends.record(pending("reply:1"))
    first = replace(await claimed(sends, "reply:1"), cap_slot_at=NOW)
    retry = replace(
        outcome("pending", error="HTTP 500", error_code=20500, in_doubt_since=NOW),
        attempt=Attempt(1, NOW, "retry", http_status=500, error_code=20500, retry_in_seconds=1.5),
    )
    assert await sends.release_for_retry(first, retry, NOW + timedelta(seconds=2))
    assert not await sends.release_for_retry(first, retry, NOW)  # released already

    again = await claimed(sends, "reply:1", "t2", NOW + timedelta(seconds=2))
    assert (again.cap_slot_at, again.send.in_doubt_since) == (NOW, NOW)
    later = NOW + timedelta(seconds=3)
    # A later doubt leaves the earliest; an error without a code clears the old code.
    second = outcome("pending", later, 2, error="timed out", in_doubt_since=later)
    assert await sends.release_for_retry(again, second, later)

    send = await sends.get("reply:1")
    assert send is not None
    assert (send.status, send.next_attempt_at, send.claim, send.lease_until) == (
        "pending",
        later,
        None,
        None,
    )
    assert (send.in_doubt_since, send.cap_slot_at) == (NOW, NOW)
    assert (send.error, send.error_code, send.attempts) == ("timed out", None, 2)
    assert [entry.outcome for entry in send.history] == ["retry", "pending"]
    assert send.history[0] == retry.attempt


async def test_only_a_send_out_of_retries_is_reopened(repositories: SenderRepositories) -> None:
    sends = repositories.sends
    await sends.record(pending("exhausted"))
    await sends.finish(
        await claimed(sends, "exhausted"), outcome("failed", reason=RETRIES_EXHAUSTED), step
    )
    await sends.record(pending("refused", status="permanently_failed", reason="body_empty"))

    later = NOW + timedelta(hours=1)
    reopened = await sends.reopen_exhausted("exhausted", later)
    assert reopened is not None
    assert (reopened.status, reopened.reason, reopened.attempts, reopened.reopened) == (
        "pending",
        None,
        0,
        1,
    )
    assert reopened.next_attempt_at == later
    assert await sends.reopen_exhausted("exhausted", later) is None
    assert await sends.reopen_exhausted("refused", later) is None
    assert await sends.reopen_exhausted("unknown", later) is None


async def test_provider_statuses_move_a_send_forward_only(
    repositories: SenderRepositories,
) -> None:
    sends = repositories.sends
    await sends.record(pending("reply:1"))
    await sends.finish(await claimed(sends, "reply:1"), outcome("sent", provider_sid="SM1"), step)

    assert await sends.apply_reported_status("reply:1", "SM1", "delivered", None, NOW)
    assert not await sends.apply_reported_status("reply:1", "SM1", "sent", None, NOW)
    assert not await sends.apply_reported_status("reply:1", "SM1", "undelivered", 30003, NOW)
    assert not await sends.apply_reported_status("reply:1", "SM2", "failed", None, NOW)

    send = await sends.get("reply:1")
    assert send is not None
    assert (send.status, send.provider_sid, send.error_code) == ("delivered", "SM1", None)
    assert await sends.find_for_status(None, "SM1") == send
    assert await sends.find_for_status("reply:1", "SM-other") == send
    assert await sends.find_for_status(None, "SM-unknown") is None


async def test_a_status_for_a_claimed_send_is_set_aside_for_its_holder(
    repositories: SenderRepositories,
) -> None:
    sends = repositories.sends
    await sends.record(pending("reply:1"))
    claim = await claimed(sends, "reply:1")

    assert not await sends.apply_reported_status("reply:1", "SM1", "delivered", None, NOW)
    assert not await sends.apply_reported_status("reply:1", "SM1", "sent", None, NOW)

    held = await sends.get("reply:1")
    assert held is not None
    assert (held.status, held.reported_status, held.provider_sid) == ("sending", "delivered", "SM1")
    after = await sends.finish(claim, outcome("sent", provider_sid="SM1"), step)
    assert after is not None
    assert after.reported_status == "delivered"
    assert after == await sends.get("reply:1")
    [published] = repositories.emitted
    assert published.payload == step(after)[0].payload


async def test_a_send_given_up_takes_the_providers_word(repositories: SenderRepositories) -> None:
    sends = repositories.sends
    await sends.record(pending("reply:1"))
    await sends.finish(
        await claimed(sends, "reply:1"), outcome("failed", reason=RETRIES_EXHAUSTED), step
    )

    assert await sends.apply_reported_status("reply:1", "SM1", "sent", None, NOW)

    send = await sends.get("reply:1")
    assert send is not None
    assert (send.status, send.reason, send.provider_sid) == ("sent", None, "SM1")


async def test_provider_messages_owned_by_other_sends(repositories: SenderRepositories) -> None:
    sends = repositories.sends
    for key, sid in (("a", "SM1"), ("b", "SM2")):
        await sends.record(pending(key))
        await sends.finish(await claimed(sends, key), outcome("sent", provider_sid=sid), step)

    assert await sends.sids_of_other_sends(["SM1", "SM2", "SM3"], "a") == {"SM2"}
    assert await sends.sids_of_other_sends([], "a") == set()


async def test_reads_for_other_services_leave_the_history_out(
    repositories: SenderRepositories,
) -> None:
    sends = repositories.sends
    for n, status in enumerate(("failed", "undelivered", "failed")):
        key = f"reply:{n}:admin-retry:1" if n == 2 else f"reply:{n}"
        await sends.record(pending(key))
        at = NOW + timedelta(minutes=n)
        await sends.finish(await claimed(sends, key), outcome(status, at), step)

    newest = await sends.with_status(("failed", "undelivered"), limit=2)
    assert [s.key for s in newest] == ["reply:2:admin-retry:1", "reply:1"]
    assert all(s.history == () for s in newest)
    assert [s.key for s in await sends.keyed_from("reply:2")] == ["reply:2:admin-retry:1"]
    assert await sends.count_by_status() == {"failed": 2, "undelivered": 1}


async def test_writes_in_a_unit_of_work_that_fails_are_gone(
    repositories: SenderRepositories,
) -> None:
    async def record_then_fail(uow: SenderWork) -> None:
        await uow.sends.record(pending("reply:1"))
        raise RuntimeError("the transaction did not commit")

    with pytest.raises(RuntimeError):
        await repositories.run(record_then_fail)
    assert await repositories.sends.get("reply:1") is None

    async def record(uow: SenderWork) -> bool:
        return await uow.sends.record(pending("reply:1"))

    assert await repositories.run(record)
    assert await repositories.sends.get("reply:1") is not None
