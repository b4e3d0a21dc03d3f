"""One scheduler tick: take the users that are due, decide, claim the 24 h slot, emit, advance.

Only one replica ticks at a time (a lease in `scheduler_leases`); even if two overlap, the slot
claim is a conditional update on `last_proactive_at`, so a user cannot get two messages, and
the emitted event's id derives from its idempotency key, so a replayed emission is a duplicate.
The cost of a tick follows the number of due users (an index on `next_due_at`), not all users.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from services.scheduler.rules import Churn, Decision, Kind, decide, next_due_at
from services.scheduler.state import PROACTIVE_STATE, to_rules_state
from shared.clock import Clock
from shared.events import new_event
from shared.events.catalog import ProactiveMessageDue, UserChurned
from shared.mongo import Database, Document, MongoClient
from shared.outbox import Outbox

log = structlog.get_logger(__name__)

LEASES = "scheduler_leases"
RUNS = "scheduler_runs"
_TICK_LEASE = "tick"


@dataclass
class TickReport:
    due: int = 0
    sent: int = 0
    churned: int = 0
    skipped: int = 0
    lost_races: int = 0


class Scheduler:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        clock: Clock,
        *,
        holder: str,
        batch_size: int,
        lease_seconds: float,
        subscriptions_enabled: bool,
        transactions_with: MongoClient | None = None,
    ) -> None:
        """`transactions_with`: the client to run claim + emission in one transaction with;
        None where the server has none (the emission then follows the claim)."""
        self._client = transactions_with
        self._states: AsyncCollection[Document] = db[PROACTIVE_STATE]
        self._leases: AsyncCollection[Document] = db[LEASES]
        self._runs: AsyncCollection[Document] = db[RUNS]
        self._outbox = outbox
        self._clock = clock
        self._holder = holder
        self._batch_size = batch_size
        self._lease = timedelta(seconds=lease_seconds)
        self._subscriptions_enabled = subscriptions_enabled

    async def _take_lease(self, now: datetime) -> bool:
        with contextlib.suppress(PyMongoError):
            await self._leases.update_one(
                {"_id": _TICK_LEASE}, {"$setOnInsert": {"holder": None, "until": now}}, upsert=True
            )
        taken = await self._leases.find_one_and_update(
            {"_id": _TICK_LEASE, "$or": [{"until": {"$lte": now}}, {"holder": self._holder}]},
            {"$set": {"holder": self._holder, "until": now + self._lease}},
            return_document=ReturnDocument.AFTER,
        )
        return taken is not None

    async def tick(self) -> TickReport | None:
        """One pass over the due users; None when another replica holds the lease."""
        now = self._clock.now()
        if not await self._take_lease(now):
            return None
        report = TickReport()
        cursor = (
            self._states.find({"next_due_at": {"$lte": now}})
            .sort("next_due_at", ASCENDING)
            .limit(self._batch_size)
        )
        async for document in cursor:
            report.due += 1
            await self._handle(document, now, report)
        await self._runs.insert_one({"started_at": now, "holder": self._holder, **report.__dict__})
        if report.due:
            log.info("scheduler tick", **report.__dict__)
        return report

    async def _handle(self, document: Document, now: datetime, report: TickReport) -> None:
        state = to_rules_state(document, subscriptions_enabled=self._subscriptions_enabled)
        decision = decide(state, now)
        if isinstance(decision, Churn):
            await self._churn(document, now, report)
            return
        if decision is None:
            report.skipped += 1
            await self._states.update_one(
                {"_id": document["_id"], "next_due_at": document.get("next_due_at")},
                {"$set": {"next_due_at": next_due_at(state, now)}},
            )
            return
        await self._send(document, decision, now, report)

    async def _send(
        self, document: Document, decision: Decision, now: datetime, report: TickReport
    ) -> None:
        advance: dict[str, Any] = {"last_proactive_at": now}
        if decision.kind == Kind.CRISIS_FOLLOWUP:
            advance["crisis_followup_count"] = decision.stage
        elif decision.kind == Kind.REACTIVATION:
            advance["reactivation_count"] = decision.stage
            advance["last_reactivation_at"] = now
        else:
            advance["last_checkin_at"] = now
        event = new_event(
            ProactiveMessageDue(
                user_id=document["_id"],
                phone=document["phone"],
                kind=decision.kind.value,
                stage=decision.stage,
                due_at=now,
            ),
            idempotency_key=decision.idempotency_key,
            occurred_at=now,
        )

        async def claim_and_emit(session: AsyncClientSession | None) -> Document | None:
            # The claim: only if nobody took this user's slot since we read the document.
            # (update_one, not find_one_and_update: the latter scans the collection on
            # SecantusDB, ~120 ms at 20k users, and the claimed state is known anyway.)
            result = await self._states.update_one(
                {"_id": document["_id"], "last_proactive_at": document.get("last_proactive_at")},
                {"$set": advance},
                session=session,
            )
            if result.modified_count == 0:
                return None
            await self._outbox.add(event, session)
            return {**document, **advance}

        if self._client is not None:
            async with self._client.start_session() as session:
                claimed = await session.with_transaction(claim_and_emit)
            self._outbox.notify()
        else:
            claimed = await claim_and_emit(None)
        if claimed is None:
            report.lost_races += 1
            return
        state = to_rules_state(claimed, subscriptions_enabled=self._subscriptions_enabled)
        await self._states.update_one(
            {"_id": document["_id"]}, {"$set": {"next_due_at": next_due_at(state, now)}}
        )
        report.sent += 1

    async def _churn(self, document: Document, now: datetime, report: TickReport) -> None:
        churned = await self._states.update_one(
            {"_id": document["_id"], "journey_phase": "active"},
            {"$set": {"journey_phase": "churned", "next_due_at": None, "churned_at": now}},
        )
        if churned.modified_count == 0:
            report.lost_races += 1
            return
        await self._outbox.add(
            new_event(
                UserChurned(user_id=document["_id"], phone=document["phone"], churned_at=now),
                idempotency_key=f"churned:{document['_id']}:{document.get('last_reactivation_at')}",
                occurred_at=now,
            )
        )
        report.churned += 1

    async def run(self, stop: asyncio.Event, interval_seconds: float) -> None:
        """Tick every `interval_seconds` until `stop`; a failed tick is logged and retried."""
        while not stop.is_set():
            try:
                await self.tick()
            except PyMongoError:
                log.warning("scheduler tick failed; retrying next interval", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_seconds)
