"""Every consumer queue of the system, derived from the services' own declarations.

Each service declares its queues once, in its `queues.py`, beside the handlers that consume
them; this module only gathers them. Every worker declares all of them at start-up (so an event
published before its consumer first ran still has a queue to wait in, and an unroutable publish
means a real bug), the admin lists them, and the event catalogue documents them
(`python -m services.queues` regenerates docs/asyncapi.yaml and docs/events.md).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from services.billing_worker.queues import QUEUES as BILLING_WORKER
from services.scheduler.queues import QUEUES as SCHEDULER
from services.sms_sender.queues import QUEUES as SMS_SENDER
from services.sms_worker.queues import QUEUES as SMS_WORKER
from shared.broker import ConsumerQueue, catalogue
from shared.events.asyncapi import main as write_event_docs

SYSTEM_QUEUES: tuple[ConsumerQueue, ...] = (*SMS_WORKER, *SMS_SENDER, *BILLING_WORKER, *SCHEDULER)
# Queue name → the event types (or patterns) bound to it.
CONSUMER_QUEUES: Mapping[str, tuple[str, ...]] = catalogue(SYSTEM_QUEUES)


def main(argv: list[str] | None = None) -> int:
    """Regenerate (or with `--check`, verify) the event catalogue's documents."""
    return write_event_docs(argv, queues=CONSUMER_QUEUES)


if __name__ == "__main__":
    sys.exit(main())
