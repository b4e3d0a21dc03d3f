"""A worker process for the shutdown test, built on `WorkerRuntime` like the real services: its
handler records when it starts, takes a while, then records that it finished. Configured by the
usual environment (RABBITMQ_*, MONGODB_*, OPS_PORT)."""

from __future__ import annotations

import asyncio

from shared.broker import ConsumerQueue, catalogue
from shared.events import Envelope, EventRegistry, Payload
from shared.unit_of_work import UnitOfWork
from shared.worker import WorkerRuntime

QUEUE = "tests.slow_worker"
SERVICE = "sms_worker"  # borrows a real service's settings; the test points its database away


class Job(Payload):
    EVENT_TYPE = "test.job"
    seconds: float


async def main() -> None:
    registry = EventRegistry()
    registry.register(Job)
    queue = ConsumerQueue(QUEUE, (Job,))
    queues = catalogue([queue])
    async with WorkerRuntime.open(SERVICE, queues=queues, registry=registry) as runtime:
        progress = runtime.db.progress

        async def work(event: Envelope[Job], uow: UnitOfWork) -> None:
            # Outside the transaction (so the test sees it at once) and idempotent, because a
            # transaction that meets a write conflict runs its callback again.
            await progress.update_one(
                {"_id": f"started:{event.id}"}, {"$setOnInsert": {"n": 1}}, upsert=True
            )
            await asyncio.sleep(event.payload.seconds)
            await progress.insert_one({"_id": f"finished:{event.id}"}, session=uow.session)

        consumer = runtime.consumer(queue)
        consumer.handle(Job, runtime.plain_inbox(QUEUE).idempotent(work))
        await runtime.run([consumer])


if __name__ == "__main__":
    asyncio.run(main())
