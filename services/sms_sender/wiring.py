"""Assembling the sender once: stores over the service database, the dispatcher and poller, and
the handlers bound to the sender's queue. `__main__`, the integration tests and the benchmark all
build the sender through `assemble`, so they run the same code."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from services.sms_sender.dispatcher import Dispatcher, DuePoller, ParkingLot
from services.sms_sender.handlers import (
    DeliveryStatuses,
    OptOuts,
    OutboundRequests,
    RequestIntake,
)
from services.sms_sender.store import OutboundStore, RecipientStore
from services.sms_sender.transport import SmsTransport
from shared.broker import Consumer
from shared.clock import Clock
from shared.config import SenderSettings
from shared.events.catalog import SmsOptOutChanged, SmsOutboundRequested, SmsStatusUpdated
from shared.inbox import Inbox
from shared.mongo import Database, MongoClient, atomic_writes
from shared.outbox import Outbox
from shared.unit_of_work import UnitOfWork

SENDER_QUEUE: Final = "sms_sender.events"


@dataclass(frozen=True)
class Sender:
    outbound: OutboundStore
    recipients: RecipientStore
    dispatcher: Dispatcher
    poller: DuePoller
    requests: OutboundRequests
    statuses: DeliveryStatuses
    opt_outs: OptOuts
    clock: Clock
    transport_name: str

    def bind(self, consumer: Consumer, inbox: Inbox[UnitOfWork]) -> None:
        """Route the sender queue's three event types to their handlers."""
        consumer.handle(
            SmsOutboundRequested,
            RequestIntake(
                inbox.idempotent(self.requests.record),
                self.requests,
                self.outbound,
                self.dispatcher,
                self.clock,
                self.transport_name,
            ),
        )
        consumer.handle(SmsStatusUpdated, inbox.idempotent(self.statuses.apply))
        consumer.handle(SmsOptOutChanged, inbox.idempotent(self.opt_outs.apply))


def assemble(
    db: Database,
    *,
    client: MongoClient,
    outbox: Outbox,
    clock: Clock,
    transport: SmsTransport,
    parking: ParkingLot,
    settings: SenderSettings,
    unit_random: Callable[[], float] = random.random,
) -> Sender:
    outbound = OutboundStore.of(db)
    recipients = RecipientStore.of(db)
    dispatcher = Dispatcher(
        outbound=outbound,
        recipients=recipients,
        transport=transport,
        outbox=outbox,
        atomic=atomic_writes(client),
        clock=clock,
        settings=settings,
        parking=parking,
        unit_random=unit_random,
    )
    return Sender(
        outbound=outbound,
        recipients=recipients,
        dispatcher=dispatcher,
        poller=DuePoller(outbound, dispatcher, clock, settings),
        requests=OutboundRequests(outbound, clock, settings.max_body_chars),
        statuses=DeliveryStatuses(outbound, clock),
        opt_outs=OptOuts(recipients),
        clock=clock,
        transport_name=transport.name,
    )
