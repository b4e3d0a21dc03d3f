"""Wiring the SMS worker's consumers once: collections, handlers, responder, from the runtime.

Every consumer has its own inbox over one kind of transaction, `MongoSmsWork` (the unit of
work handlers see as `SmsWork`).

`__main__` and the integration tests build the service the same way, so the tests exercise the
wiring that production runs.
"""

from __future__ import annotations

from datetime import timedelta

from services.sms_worker.alerts import acknowledge_alert
from services.sms_worker.domain.proactive import check_templates
from services.sms_worker.domain.responder import Responder, RulesResponder
from services.sms_worker.handlers import BillingAccess, InboundConfig, InboundSms, OptOutChanges
from services.sms_worker.llm_responder import LlmResponder
from services.sms_worker.proactive_handlers import ChurnedUsers, ProactiveConfig, ProactiveMessages
from services.sms_worker.queues import INBOUND, PROACTIVE, SENDS
from services.sms_worker.sends import SendSteps
from services.sms_worker.settings import LlmSettings, SmsWorkerSettings
from services.sms_worker.storage import MongoMessages, sms_worker_indexes
from services.sms_worker.unit_of_work import MongoSmsRepositories, MongoSmsWork, sms_work
from shared.broker import Consumer, ConsumerQueue
from shared.config import LinkSettings, SubscriptionSettings
from shared.events.catalog import (
    BillingAccessChanged,
    CrisisAlertAcknowledged,
    ProactiveMessageDue,
    SmsInboundReceived,
    SmsOptOutChanged,
    SmsSendUpdated,
    UserChurned,
)
from shared.inbox import Inbox, replay_safe
from shared.mongo import ensure_indexes
from shared.worker import WorkerRuntime

SERVICE = "sms_worker"


def build_responder(settings: SmsWorkerSettings, llm: LlmSettings) -> Responder:
    """The LLM responder when `LLM_BASE_URL` is set, else the rules responder."""
    if llm.enabled:
        return LlmResponder.from_settings(llm, max_chars=settings.reply_max_chars)
    return RulesResponder(settings.reply_max_chars)


async def inbound_consumer(
    runtime: WorkerRuntime,
    settings: SmsWorkerSettings,
    subscriptions: SubscriptionSettings,
    responder: Responder,
    links: LinkSettings,
) -> Consumer:
    """Apply the indexes and return the `sms_worker.inbound` consumer with its handlers."""
    await ensure_indexes(runtime.db, sms_worker_indexes())
    inbox = _inbox(runtime, INBOUND)
    inbound = InboundSms(
        MongoSmsRepositories(runtime.db),
        responder,
        runtime.clock,
        InboundConfig.of(settings, links, subscriptions_enabled=subscriptions.enabled),
    )
    consumer = runtime.consumer(INBOUND)
    # The message's record is the handler's inbox row (`InboundSms.handled`).
    consumer.handle(SmsInboundReceived, inbox.planned_with_own_record(inbound))
    consumer.handle(SmsOptOutChanged, inbox.idempotent(OptOutChanges(runtime.clock).handle))
    consumer.handle(BillingAccessChanged, inbox.idempotent(BillingAccess(runtime.clock).handle))
    consumer.handle(CrisisAlertAcknowledged, inbox.idempotent(acknowledge_alert))
    return consumer


def proactive_consumer(
    runtime: WorkerRuntime, settings: SmsWorkerSettings, subscriptions: SubscriptionSettings
) -> Consumer:
    """The `sms_worker.proactive` consumer: the scheduler's due messages and churn decisions."""
    check_templates()
    inbox = _inbox(runtime, PROACTIVE)
    messages = ProactiveMessages(
        runtime.clock,
        ProactiveConfig(
            max_delay=timedelta(hours=settings.proactive_max_delay_hours),
            subscriptions_enabled=subscriptions.enabled,
            recent_messages=settings.recent_messages,
        ),
    )
    consumer = runtime.consumer(PROACTIVE)
    consumer.handle(ProactiveMessageDue, inbox.idempotent(messages.handle))
    consumer.handle(UserChurned, inbox.idempotent(ChurnedUsers(runtime.clock).handle))
    return consumer


def sends_consumer(runtime: WorkerRuntime) -> Consumer:
    """The `sms_worker.sends` consumer: the conversation log's rows of outbound SMS. A step
    is replay-safe on its own (`sends.py`), so it runs without inbox or transaction."""
    consumer = runtime.consumer(SENDS)
    consumer.handle(SmsSendUpdated, replay_safe(SendSteps(MongoMessages(runtime.db)).handle))
    return consumer


def _inbox(runtime: WorkerRuntime, queue: ConsumerQueue) -> Inbox[MongoSmsWork]:
    return runtime.inbox(queue.name, runtime.transactions(sms_work(runtime.db)))


async def sms_worker_consumers(
    runtime: WorkerRuntime,
    settings: SmsWorkerSettings,
    subscriptions: SubscriptionSettings,
    responder: Responder,
    links: LinkSettings,
) -> list[Consumer]:
    """Every consumer `python -m services.sms_worker` runs, in one process."""
    return [
        await inbound_consumer(runtime, settings, subscriptions, responder, links),
        proactive_consumer(runtime, settings, subscriptions),
        sends_consumer(runtime),
    ]
