"""Where the whole system stops keeping up: stepped open-loop rates of new and returning
caregivers, each step judged on its own latency and on whether its backlog drains.

A step sends `rate * seconds` webhooks on a fixed schedule (`bench.load`'s rule: latency counts
from the scheduled moment). Every other message is from a *returning* caregiver — one whose
previous message has been answered — sending the next line of the onboarding script; the rest
are first messages of new numbers. A caregiver's next message leaves only after the previous
reply arrived, so the first Twilio create for that number after the scheduled moment is this
message's reply. A step **kept up** when its p99 is under `KEPT_UP_P99_SECONDS` and the
messages still unanswered when it stopped sending were all answered within `DRAIN_SECONDS`.

Also here: each service's own count of database commands (`givecare_mongo_commands_total` on
its `/metrics`), so a message's round trips break down by service and collection.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.load import (
    CAREGIVER_SCRIPT,
    SignedSms,
    caregiver_phone,
    percentile,
    post_sms,
    signed_sms,
)

KEPT_UP_P99_SECONDS = 1.0
DRAIN_SECONDS = 10.0
# Requests the load generator keeps open at once. A target that stops answering would otherwise
# pile thousands of requests into the client's pool (whose bookkeeping then costs more than
# the load); beyond this, a due message is counted as not sent — and never answered.
MAX_IN_FLIGHT = 300
# The script lines that each get exactly one reply (the next onboarding question), so a
# caregiver's replies pair with its messages one to one.
RETURNING_SCRIPT = CAREGIVER_SCRIPT[:4]
_COMMANDS_METRIC = "givecare_mongo_commands"


@dataclass
class Caregiver:
    phone: str
    sent: int = 0
    last_scheduled: float = 0.0


@dataclass
class CaregiverPool:
    """New numbers on demand, and the caregivers waiting to text their next line."""

    run: int
    _next: int = 0
    _waiting: deque[Caregiver] = field(default_factory=deque)

    def new(self) -> Caregiver:
        self._next += 1
        return Caregiver(caregiver_phone(self.run, self._next))

    def returning(self, answered: Callable[[str, float], bool], look: int = 64) -> Caregiver | None:
        """A caregiver whose last message was answered, oldest first; None if none of the
        `look` oldest is ready (then the slot goes to a new caregiver)."""
        for _ in range(min(look, len(self._waiting))):
            caregiver = self._waiting.popleft()
            if answered(caregiver.phone, caregiver.last_scheduled):
                return caregiver
            self._waiting.append(caregiver)
        return None

    def wait_for_reply(self, caregiver: Caregiver) -> None:
        if caregiver.sent < len(RETURNING_SCRIPT):
            self._waiting.append(caregiver)


@dataclass(frozen=True)
class Sent:
    phone: str
    scheduled: float
    returning: bool
    status: int | None


async def send_step(
    http: httpx.AsyncClient,
    pool: CaregiverPool,
    answered: Callable[[str, float], bool],
    *,
    base_url: str,
    auth_token: str,
    rate: float,
    seconds: float,
) -> list[Sent]:
    """Post `rate * seconds` webhooks on schedule, odd slots to returning caregivers."""
    count = max(1, int(rate * seconds))
    sent: list[Sent | None] = [None] * count
    start = time.perf_counter() + 0.05
    in_flight = 0

    async def one(n: int) -> None:
        nonlocal in_flight
        scheduled = start + n / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        if in_flight >= MAX_IN_FLIGHT:
            sent[n] = Sent(f"not-sent:{n}", scheduled, returning=False, status=None)
            return
        caregiver = pool.returning(answered) if n % 2 else None
        returning = caregiver is not None
        caregiver = caregiver or pool.new()
        text = RETURNING_SCRIPT[caregiver.sent]
        caregiver.sent += 1
        caregiver.last_scheduled = scheduled
        request: SignedSms = signed_sms(
            base_url,
            auth_token,
            message_sid=f"SM{uuid.uuid4().hex}",
            from_number=caregiver.phone,
            body=text,
        )
        in_flight += 1
        try:
            status = await post_sms(http, request)
        finally:
            in_flight -= 1
        sent[n] = Sent(caregiver.phone, scheduled, returning, status)
        pool.wait_for_reply(caregiver)

    await asyncio.gather(*(one(n) for n in range(count)))
    return [s for s in sent if s is not None]


@dataclass(frozen=True)
class StepOutcome:
    latencies: list[float]  # seconds; math.inf for a message never answered
    backlog_at_end: int
    drained_after: float | None  # seconds after the last send, None if not within the window

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 0.99)

    @property
    def kept_up(self) -> bool:
        return self.p99 < KEPT_UP_P99_SECONDS and self.drained_after is not None


async def await_replies(
    sent: Sequence[Sent],
    reply_at: Callable[[str, float], float | None],
    *,
    drain_seconds: float = DRAIN_SECONDS,
) -> StepOutcome:
    """Count what is unanswered now (the step just stopped sending), then wait up to
    `drain_seconds` for it."""
    stopped = time.perf_counter()

    def unanswered() -> int:
        return sum(1 for s in sent if reply_at(s.phone, s.scheduled) is None)

    backlog = unanswered()
    drained_after: float | None = 0.0 if backlog == 0 else None
    while drained_after is None and time.perf_counter() - stopped < drain_seconds:
        await asyncio.sleep(0.05)
        if unanswered() == 0:
            drained_after = time.perf_counter() - stopped
    latencies = []
    for s in sent:
        arrived = reply_at(s.phone, s.scheduled)
        latencies.append(math.inf if arrived is None else arrived - s.scheduled)
    return StepOutcome(latencies, backlog, drained_after)


async def service_commands(
    http: httpx.AsyncClient, ops_urls: Mapping[str, str]
) -> dict[str, float]:
    """Each service's database commands so far, as `<service> <command> <collection>`."""

    async def one(service: str, url: str) -> dict[str, float]:
        try:
            response = await http.get(f"{url}/metrics")
        except httpx.HTTPError:
            return {}
        if response.status_code != 200:
            return {}
        counts: dict[str, float] = {}
        for family in text_string_to_metric_families(response.text):
            if family.name != _COMMANDS_METRIC:
                continue
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    key = f"{service} {sample.labels['command']} {sample.labels['collection']}"
                    counts[key] = sample.value
        return counts

    found = await asyncio.gather(*(one(name, url) for name, url in ops_urls.items()))
    return {key: value for counts in found for key, value in counts.items()}


def commands_per_message(
    before: Mapping[str, float], after: Mapping[str, float], messages: int
) -> dict[str, float]:
    """Commands per message by `<service> <command> <collection>`, the busiest first."""
    spent = {key: after[key] - before.get(key, 0.0) for key in after}
    rounded = {key: round(value / messages, 2) for key, value in spent.items() if value > 0}
    return dict(sorted(rounded.items(), key=lambda item: -item[1]))


def by_service(per_command: Mapping[str, float]) -> dict[str, float]:
    """Commands per message summed by service."""
    totals: dict[str, float] = {}
    for key, value in per_command.items():
        service = key.split(" ", 1)[0]
        totals[service] = round(totals.get(service, 0.0) + value, 2)
    return totals
