"""The whole system as real processes — ingress, SMS worker, SMS sender, billing, scheduler —
against the real broker and database, driven the way the providers drive it: signed webhooks
into ingress, and replies read back from a fake Twilio that the sender reaches through the real
SDK. Used by the end-to-end, chaos and soak tests (`running_system`).

What a test waits for is read from the system's own records, never from a clock: a message is
handled when its `messages` row exists; the replies it caused are the SMS requests its handler
committed with that row (the outbox, same transaction); a reply has arrived when its
`outbound_messages` row is sent. So "no reply" and "exactly one reply" are exact statements.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aio_pika.abc import AbstractRobustConnection
from pydantic import SecretStr

from domain import send_status
from services.devtools.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, FakeTwilioServer
from services.devtools.stripe_events import BillingEventType, caregiver_event
from services.devtools.webhooks import IngressWebhooks
from services.sms_worker.domain import replies
from shared.broker import connect
from shared.config import SERVICES as SERVICE_DATABASES
from shared.config import BrokerSettings, MongoSettings
from shared.events.catalog import SmsOutboundRequested
from shared.local_servers import free_port
from shared.local_servers.env_file import write_env_file
from shared.mongo import Database, Document, MongoClient, create_client
from shared.mongo.write_log import read_write_log
from tests.support.processes import ServiceProcess, service_process, system_environment
from tests.support.waiting import eventually

# The number caregivers text (the inbound webhooks' `To`, the sender's `From`).
OUR_NUMBER = "+18005550100"
PROCESSES = ("ingress", "sms-worker", "sms-sender", "billing", "scheduler")
# A reply takes a few hops through five busy processes on a small machine, and five processes
# starting at once on two cores take a while to import.
REPLY_TIMEOUT = 45.0
READY_TIMEOUT = 90.0
# The fake Twilio reports `sent`, then `delivered`, to ingress this long after each send.
DELIVERY_REPORT_SECONDS = 0.2
# A whole scripted chat: a few replies, each bounded by the chat's own reply timeout.
CLI_TIMEOUT = 180.0

# Loops that poll do so often, so a conversation takes seconds, and a sender that dies holding a
# send loses it after SENDER_LEASE_SECONDS (which must exceed twice the Twilio timeout).
FAST_LOOPS = {
    "OUTBOX_POLL_INTERVAL_SECONDS": "0.2",
    "SENDER_POLL_INTERVAL_SECONDS": "0.2",
    "SENDER_RETRY_BASE_SECONDS": "0.5",
    "TWILIO_REQUEST_TIMEOUT_SECONDS": "3",
    "SENDER_LEASE_SECONDS": "8",
    "SCHEDULER_TICK_SECONDS": "0.5",
    "BILLING_ACCESS_SWEEP_INTERVAL_SECONDS": "1",
    "RABBITMQ_RETRY_BASE_DELAY_MS": "200",
    "RABBITMQ_RETRY_MAX_DELAY_MS": "2000",
    "RABBITMQ_SHUTDOWN_GRACE_SECONDS": "5",
}


# The MongoDB client name each process (or command line) gives, and the service it acts for: the
# admin is served by ingress and used by the operator CLI, but owns a database of its own.
CLIENT_SERVICES = {
    "ingress": "ingress",
    "ingress-admin": "admin",
    "givecare-cli": "admin",
    "sms_worker": "sms_worker",
    "sms_sender": "sms_sender",
    "billing_worker": "billing_worker",
    "scheduler": "scheduler",
}


def collections_by_service(writes: set[tuple[str, str, str]]) -> dict[str, set[str]]:
    """Service → the collections (`database.collection`) its processes wrote."""
    written: dict[str, set[str]] = {}
    for client_name, database, collection in writes:
        service = CLIENT_SERVICES.get(client_name, client_name)
        written.setdefault(service, set()).add(f"{database}.{collection}")
    return written


def written_by_several(writes: set[tuple[str, str, str]]) -> list[str]:
    """Collections more than one service wrote: each must have exactly one owner."""
    owners: dict[str, set[str]] = {}
    for service, collections in collections_by_service(writes).items():
        for collection in collections:
            owners.setdefault(collection, set()).add(service)
    return sorted(
        f"{collection} written by {', '.join(sorted(services))}"
        for collection, services in owners.items()
        if len(services) > 1
    )


def foreign_writes(writes: set[tuple[str, str, str]], db_prefix: str) -> list[str]:
    """Writes that landed outside the writing service's own database (`<prefix>_<service>`)."""
    foreign = []
    for client_name, database, collection in sorted(writes):
        service = CLIENT_SERVICES.get(client_name)
        if service is None or database != f"{db_prefix}_{service}":
            foreign.append(f"{client_name} wrote {database}.{collection}")
    return foreign


@dataclass
class System:
    """The running processes, the fake Twilio they send to, and read access to their data."""

    env: dict[str, str]
    twilio: FakeTwilio
    client: MongoClient
    broker: AbstractRobustConnection
    broker_settings: BrokerSettings
    db_prefix: str
    stripe_secret: str
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    # Each process's port, kept across restarts.
    ports: dict[str, int] = field(default_factory=dict)
    # Logs of processes that were killed or replaced, kept for the log checks.
    earlier_output: list[bytes] = field(default_factory=list)
    webhooks: IngressWebhooks = field(init=False)

    def db(self, service: str) -> Database:
        return self.client[f"{self.db_prefix}_{service}"]

    async def start_all(self) -> None:
        """The five processes at once (their start-up is mostly waiting); then the client that
        signs webhooks for the ingress, which picked its port."""
        started = await asyncio.gather(
            *(self.start(name) for name in PROCESSES), return_exceptions=True
        )
        failures = [error for error in started if isinstance(error, BaseException)]
        if failures:
            raise failures[0]
        self.webhooks = IngressWebhooks(
            f"http://127.0.0.1:{self.processes['ingress'].ops_port}",
            twilio_auth_token=AUTH_TOKEN,
            stripe_secrets=[self.stripe_secret],
            account_sid=ACCOUNT_SID,
        )

    async def start(self, name: str) -> ServiceProcess:
        process = service_process(
            name, self.env, ready_timeout=READY_TIMEOUT, port=self.ports.get(name)
        )
        await process.__aenter__()
        self.processes[name] = process
        self.ports[name] = process.ops_port
        return process

    async def restart(self, name: str) -> None:
        """SIGKILL `name`, then start it again on the same port."""
        await self.kill(name)
        await self.start(name)

    async def kill(self, name: str) -> None:
        """SIGKILL, as a crash: whatever the process held unacknowledged goes back to the broker."""
        process = self.processes.pop(name)
        self.earlier_output.append(await process.kill())
        await process.__aexit__(None, None, None)

    async def stop(self) -> dict[str, int | None]:
        """SIGTERM to all; their exit codes."""

        async def stop_one(process: ServiceProcess) -> None:
            with contextlib.suppress(Exception):
                self.earlier_output.append(await process.stop())
            await process.__aexit__(None, None, None)

        processes, self.processes = self.processes, {}
        await asyncio.gather(*(stop_one(p) for p in processes.values()))
        return {name: process.returncode for name, process in processes.items()}

    def logs(self) -> bytes:
        return b"".join([*self.earlier_output, *(p.output for p in self.processes.values())])

    def caregiver(self, phone: str) -> Caregiver:
        return Caregiver(self, phone)

    async def givecare(self, *args: str, stdin: bytes = b"") -> tuple[int, str, str]:
        """The `givecare` command line, pointed at this system as `make run` points it at its
        own (a devtools env file); exit code, stdout and stderr."""
        env_file = Path(tempfile.mkdtemp(prefix="givecare-e2e-")) / "devtools.env"
        write_env_file(
            env_file,
            {
                "PUBLIC_BASE_URL": self.webhooks.base_url,
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "TWILIO_API_BASE_URL": self.env["TWILIO_API_BASE_URL"],
                "TWILIO_FROM_NUMBER": OUR_NUMBER,
                "STRIPE_WEBHOOK_SECRET": self.stripe_secret,
            },
        )
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "services.cli.main",
                *args,
                "--env-file",
                str(env_file),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(process.communicate(stdin), CLI_TIMEOUT)
        finally:
            shutil.rmtree(env_file.parent)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    async def queue_ready_count(self, queue: str) -> int:
        """Messages waiting in a work queue (not those delivered and unacknowledged)."""
        channel = await self.broker.channel()
        try:
            declared = await channel.declare_queue(self.broker_settings.queue(queue), passive=True)
            count = declared.declaration_result.message_count
            return int(count) if count is not None else 0
        finally:
            await channel.close()

    async def requested(self, service: str, correlation_id: str) -> list[str]:
        """Idempotency keys of the SMS requests `service` committed for one incoming event."""
        rows = self.db(service).outbox.find(
            {"type": SmsOutboundRequested.EVENT_TYPE, "correlation_id": correlation_id}
        )
        return [json.loads(row["body"])["idempotency_key"] async for row in rows]

    async def delivered(self, keys: list[str]) -> list[str]:
        """The bodies the fake Twilio received for these requests, in the order it got them,
        once every one of them is sent (or has ended otherwise: then it is missing here)."""
        if not keys:
            return []
        outbound = self.db("sms_sender").outbound_messages

        async def settled() -> list[Document] | None:
            rows = await outbound.find({"_id": {"$in": keys}}).to_list()
            done = [
                row for row in rows if send_status.rank(row["status"]) >= send_status.rank("sent")
            ]
            return rows if len(done) == len(keys) else None

        rows = await eventually(settled, timeout=REPLY_TIMEOUT)
        sids = {row.get("provider_sid") for row in rows}
        return [m["body"] for m in self.twilio.messages.values() if m["sid"] in sids]

    async def send_stripe(self, event: dict[str, Any]) -> list[str]:
        """Post a signed Stripe event; once billing has dealt with it, the SMS it caused."""
        await self.webhooks.stripe_event(event)
        billing_events = self.db("billing_worker").billing_events

        async def applied() -> Document | None:
            row = await billing_events.find_one({"_id": event["id"]})
            return row if row is not None and row["status"] != "received" else None

        row = await eventually(applied, timeout=REPLY_TIMEOUT)
        # Ingress's event starts the chain, so its id is the correlation id of what follows.
        return await self.delivered(await self.requested("billing_worker", row["envelope_id"]))


@dataclass
class Caregiver:
    """One phone number texting the running system."""

    system: System
    phone: str

    async def text(self, body: str) -> str:
        """Send an SMS as Twilio would post it; its MessageSid."""
        return await self.system.webhooks.text(self.phone, body, to_number=OUR_NUMBER)

    async def handled(self, message_sid: str) -> Document:
        """The SMS worker's record of an inbound message, once it has been handled."""
        messages = self.system.db("sms_worker").messages

        async def recorded() -> Document | None:
            row: Document | None = await messages.find_one({"_id": f"in:{message_sid}"})
            return row

        return await eventually(recorded, timeout=REPLY_TIMEOUT)

    async def replies_to(self, message_sid: str) -> list[str]:
        """Exactly the replies one inbound message caused, as the phone received them."""
        row = await self.handled(message_sid)
        # Ingress's event starts the chain, so its id is the correlation id of what follows.
        keys = await self.system.requested("sms_worker", row["event_id"])
        return await self.system.delivered(keys)

    async def says(self, body: str) -> list[str]:
        return await self.replies_to(await self.text(body))

    def inbox(self) -> list[str]:
        """Every SMS this phone has received, oldest first."""
        return [m["body"] for m in self.system.twilio.messages_to(self.phone)]

    async def onboard(self, first_name: str = "Ana", zip_code: str = "10001") -> None:
        """The four onboarding answers; each reply is checked on the way."""
        assert await self.says("hi") == [replies.WELCOME]
        assert await self.says(f"I'm {first_name}") == [replies.ask_relationship(first_name)]
        assert await self.says("my mother") == [replies.ask_care_recipient_name("mom")]
        assert await self.says("Rose") == [replies.ask_zip()]
        (done,) = await self.says(zip_code)
        assert done.startswith(f"You're all set, {first_name}.")

    async def subscribe(self) -> list[str]:
        """Checkout and an active subscription, as Stripe reports them; the SMS they caused."""
        sent = []
        for event_type in (
            BillingEventType.CHECKOUT_COMPLETED,
            BillingEventType.SUBSCRIPTION_CREATED,
        ):
            sent += await self.system.send_stripe(caregiver_event(event_type, self.phone))
        return sent


@contextlib.asynccontextmanager
async def running_system(
    rabbitmq_url: str,
    mongodb_url: str,
    environment: dict[str, str] | None = None,
    *,
    services_rabbitmq_url: str | None = None,
    services_mongodb_url: str | None = None,
    drop_databases: bool = True,
) -> AsyncIterator[System]:
    """The five processes on an exchange, queue prefix and databases of their own, with the
    fast polling of `FAST_LOOPS` and `environment` on top; every process must stop cleanly.

    `drop_databases=False` leaves the module's databases on a throwaway server: SecantusDB's
    dropDatabase holds its global lock for as long as it runs and has been seen to run for
    minutes on a loaded machine, stalling every later test; its data directory goes with the
    session anyway. A server from the environment or a container is always cleaned.

    `services_*_url` are what the processes connect to (a fault-injecting proxy); the test's own
    clients use the servers directly."""
    module_environment = environment or {}
    run = uuid.uuid4().hex
    broker_settings = BrokerSettings(
        url=rabbitmq_url, exchange=f"e2e.{run}", queue_prefix=f"e{run[:12]}."
    )
    db_prefix = f"e2e{run[:12]}"
    stripe_secret = f"whsec_e2e_{run}"
    write_log = Path(tempfile.mkdtemp(prefix="givecare-writes-")) / "writes.log"
    client = create_client(MongoSettings(url=mongodb_url), app_name="e2e-tests")
    broker = await connect(broker_settings, name="e2e-tests")
    # Known before ingress starts, so the sender can name it as the status callback.
    ingress_port = free_port()
    fake = FakeTwilio(deliver_after_seconds=DELIVERY_REPORT_SECONDS)
    async with FakeTwilioServer(fake) as twilio:
        services_broker = broker_settings.model_copy(
            update={"url": SecretStr(services_rabbitmq_url or rabbitmq_url)}
        )
        env = system_environment(
            services_broker,
            services_mongodb_url or mongodb_url,
            db_prefix=db_prefix,
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            TWILIO_FROM_NUMBER=OUR_NUMBER,
            TWILIO_API_BASE_URL=twilio.base_url,
            TWILIO_STATUS_CALLBACK_URL=f"http://127.0.0.1:{ingress_port}/webhooks/twilio/status",
            STRIPE_WEBHOOK_SECRET=stripe_secret,
            # No Stripe API here, so no scheduled reconcile (production refuses a schedule
            # without a key unless told so); tests/integration/billing_worker covers it.
            BILLING_RECONCILE_INTERVAL_SECONDS="0",
            MONGODB_WRITE_LOG=str(write_log),
            **FAST_LOOPS,
            **module_environment,
        )
        system = System(
            env=env,
            twilio=twilio.twilio,
            client=client,
            broker=broker,
            broker_settings=broker_settings,
            db_prefix=db_prefix,
            stripe_secret=stripe_secret,
            ports={"ingress": ingress_port},
        )
        try:
            await system.start_all()
            yield system
            exit_codes = await system.stop()
            # Every process still running stops cleanly on SIGTERM; uvicorn (ingress) re-raises
            # the signal once its graceful shutdown is done, so it ends "by SIGTERM".
            clean = {name: 0 for name in exit_codes} | {"ingress": -signal.SIGTERM}
            assert exit_codes == clean
            # Whatever the module drove, no collection had two writers and each service wrote
            # only its own database.
            writes = read_write_log(write_log)
            assert written_by_several(writes) == []
            assert foreign_writes(writes, db_prefix) == []
        finally:
            await system.stop()
            if hasattr(system, "webhooks"):
                await system.webhooks.aclose()
            await broker.close()
            if drop_databases:
                for service in SERVICE_DATABASES:
                    await client.drop_database(system.db(service).name)
            await client.close()
            shutil.rmtree(write_log.parent, ignore_errors=True)
