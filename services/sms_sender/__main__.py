"""`python -m services.sms_sender`: the SMS sender, consuming `sms_sender.events`.

Scales separately from inbound handling; any number of these may run at once.
"""

from __future__ import annotations

import asyncio
import sys

from services.queues import CONSUMER_QUEUES
from services.sms_sender.parking import BrokerParkingLot
from services.sms_sender.queues import EVENTS
from services.sms_sender.settings import SenderConfig
from services.sms_sender.store import OUTBOUND_MESSAGES, sender_indexes
from services.sms_sender.transport import open_transport
from services.sms_sender.unit_of_work import sender_work
from services.sms_sender.wiring import assemble
from shared.config import ConfigError
from shared.mongo import ensure_indexes
from shared.worker import WorkerRuntime

SERVICE = "sms_sender"


async def serve(config: SenderConfig) -> None:
    async with WorkerRuntime.open(SERVICE, queues=CONSUMER_QUEUES) as runtime:
        await ensure_indexes(runtime.db, sender_indexes())
        transport = open_transport(config.sender.transport, config.twilio)
        channel = await runtime.connection.channel(publisher_confirms=True, on_return_raises=True)
        try:
            transactions = runtime.transactions(sender_work(runtime.db))
            sender = assemble(
                runtime.db,
                transactions=transactions,
                events=runtime.row_outbox(OUTBOUND_MESSAGES),
                clock=runtime.clock,
                transport=transport,
                parking=BrokerParkingLot(
                    channel,
                    runtime.broker_settings.queue(EVENTS.name),
                    runtime.broker_settings.publish_timeout_seconds,
                ),
                settings=config.sender,
            )
            consumer = runtime.consumer(EVENTS)
            sender.bind(consumer, runtime.inbox(EVENTS.name, transactions))
            await runtime.run([consumer], background=[sender.poller.run])
        finally:
            await transport.close()
            if not channel.is_closed:
                await channel.close()


def main() -> int:
    try:
        config = SenderConfig.from_environment()
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    asyncio.run(serve(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
