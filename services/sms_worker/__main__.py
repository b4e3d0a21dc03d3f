"""`python -m services.sms_worker`: the inbound consumer (queue `sms_worker.inbound`), the
proactive one (`sms_worker.proactive`) and the conversation log's sends (`sms_worker.sends`),
in one process.

Settings come from the environment (`SMS_*`, `SUBSCRIPTIONS_ENABLED`, `LLM_*` plus the shared
broker/database ones); an invalid value stops start-up with exit code 2, naming the variable.
"""

from __future__ import annotations

import asyncio
import sys

from services.queues import CONSUMER_QUEUES
from services.sms_worker.bootstrap import SERVICE, build_responder, sms_worker_consumers
from services.sms_worker.llm_responder import LlmResponder
from services.sms_worker.settings import LlmSettings, SmsWorkerSettings
from shared.config import ConfigError, LinkSettings, SubscriptionSettings, load_settings
from shared.worker import WorkerRuntime


async def run() -> None:
    settings = load_settings(SmsWorkerSettings)
    subscriptions = load_settings(SubscriptionSettings)
    llm = load_settings(LlmSettings)
    async with WorkerRuntime.open(SERVICE, queues=CONSUMER_QUEUES) as runtime:
        responder = build_responder(settings, llm)
        try:
            consumers = await sms_worker_consumers(
                runtime, settings, subscriptions, responder, load_settings(LinkSettings)
            )
            await runtime.run(consumers)
        finally:
            if isinstance(responder, LlmResponder):
                await responder.close()


def main() -> int:
    try:
        asyncio.run(run())
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
