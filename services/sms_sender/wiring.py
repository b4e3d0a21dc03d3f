"""Assembling the sender once: its repositories over the service database, the dispatcher and
poller, and the handlers bound to the sender's queue. `__main__`, the integration tests and the
benchmark all build the sender through `assemble`, so they run the same code."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from services.sms_sender.dispatcher import Dispatcher, DuePoller, ParkingLot
from services.sms_sender.handlers import (
    DeliveryStatuses,
    OutboundRequests,
    RequestIntake,
    apply_opt_out,
)
from services.sms_sender.store import MongoRecipients, MongoSends
from services.sms_sender.transport import SmsTransport
from services.sms_sender.unit_of_work import MongoSenderWork
from shared.broker import Consumer
from shared.clock import Clock
from shared.config import SenderSettings
from shared.events.catalog import SmsOptOutChanged, SmsOutboundRequested, SmsStatusUpdated
from shared.inbox import Inbox, replay_safe
from shared.mongo import Database
from shared.row_outbox import RowOutbox
from shared.unit_of_work import Transactions


@dataclass(frozen=True)
class Sender:
    dispatcher: Dispatcher
    poller: DuePoller
    intake: RequestIntake
    statuses: DeliveryStatuses

    def bind(self, consumer: Consumer, inbox: Inbox[MongoSenderWork]) -> None:
        """Route the sender queue's three event types to their handlers (a request needs no
        inbox row: its key is its identity, `handlers.py`)."""
        consumer.handle(SmsOutboundRequested, replay_safe(self.intake))
        consumer.handle(SmsStatusUpdated, inbox.idempotent(self.statuses.apply))
        consumer.handle(SmsOptOutChanged, inbox.idempotent(apply_opt_out))


def assemble(
    db: Database,
    *,
    transactions: Transactions[MongoSenderWork],
    events: RowOutbox,
    clock: Clock,
    transport: SmsTransport,
    parking: ParkingLot,
    settings: SenderSettings,
    unit_random: Callable[[], float] = random.random,
) -> Sender:
    """The claim, the send slot, the release for retry and the outcomes go to repositories
    without a session (single conditional writes, never in a transaction; an outcome keeps the
    events it publishes in its row, in `events`, the row outbox of `outbound_messages`); what
    writes two documents or emits otherwise to `transactions`."""
    sends = MongoSends(db, events=events)
    dispatcher = Dispatcher(
        claims=sends,
        slots=MongoRecipients(db),
        transactions=transactions,
        transport=transport,
        clock=clock,
        settings=settings,
        parking=parking,
        unit_random=unit_random,
    )
    return Sender(
        dispatcher=dispatcher,
        poller=DuePoller(sends, dispatcher, clock, settings),
        intake=RequestIntake(
            OutboundRequests(clock, settings.max_body_chars, settings.lease_seconds),
            sends,
            transactions,
            dispatcher,
            transport.name,
        ),
        statuses=DeliveryStatuses(clock),
    )
