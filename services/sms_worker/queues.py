"""The SMS worker's queues and the events bound to each; `bootstrap.py` registers a handler for
every one of them (a consumer refuses to start otherwise)."""

from __future__ import annotations

from shared.broker import ConsumerQueue
from shared.events.catalog import (
    BillingAccessChanged,
    CrisisAlertAcknowledged,
    ProactiveMessageDue,
    SmsInboundReceived,
    SmsOptOutChanged,
    SmsSendUpdated,
    UserChurned,
)

INBOUND = ConsumerQueue(
    "sms_worker.inbound",
    # An operator's acknowledgement of a crisis alert (the admin's command) waits here too.
    (SmsInboundReceived, SmsOptOutChanged, BillingAccessChanged, CrisisAlertAcknowledged),
)
PROACTIVE = ConsumerQueue("sms_worker.proactive", (ProactiveMessageDue, UserChurned))
# The conversation log's copy of every outbound SMS: the request, then the sender's steps.
SENDS = ConsumerQueue("sms_worker.sends", (SmsSendUpdated,))

QUEUES = (INBOUND, PROACTIVE, SENDS)
