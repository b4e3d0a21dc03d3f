"""The capacity benchmark's own rules: who texts next, when a step kept up, how commands are
counted per service; and the report's capacity block."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import httpx
import pytest

from bench import capacity, performance_doc
from bench.capacity import CaregiverPool, Sent, StepOutcome


def test_a_returning_caregiver_is_one_whose_last_message_was_answered() -> None:
    pool = CaregiverPool(run=1)
    first, second = pool.new(), pool.new()
    assert first.phone != second.phone
    for caregiver, moment in ((first, 1.0), (second, 2.0)):
        caregiver.sent, caregiver.last_scheduled = 1, moment
        pool.wait_for_reply(caregiver)
    answered = {second.phone}
    picked = pool.returning(lambda phone, _at: phone in answered)
    assert picked is second
    # The unanswered one stays waiting; nobody else is ready.
    assert pool.returning(lambda phone, _at: phone in answered) is None
    answered.add(first.phone)
    assert pool.returning(lambda phone, _at: phone in answered) is first


def test_a_caregiver_at_the_end_of_the_script_does_not_text_again() -> None:
    pool = CaregiverPool(run=1)
    caregiver = pool.new()
    caregiver.sent = len(capacity.RETURNING_SCRIPT)
    pool.wait_for_reply(caregiver)
    assert pool.returning(lambda _phone, _at: True) is None


def _outcome(latencies: list[float], drained_after: float | None) -> StepOutcome:
    return StepOutcome(latencies, backlog_at_end=0, drained_after=drained_after)


def test_a_step_keeps_up_only_with_a_p99_under_a_second_and_a_drained_backlog() -> None:
    fast = [0.05] * 100
    assert _outcome(fast, 0.0).kept_up
    assert not _outcome(fast, None).kept_up  # the backlog did not drain in time
    slow_tail = [0.05] * 98 + [1.5, 1.5]
    assert not _outcome(slow_tail, 0.2).kept_up
    # An unanswered message counts as infinitely late.
    assert math.isinf(_outcome([0.05] * 98 + [math.inf] * 2, None).p99)


async def test_await_replies_counts_the_backlog_and_when_it_drained() -> None:
    sent = [Sent(f"+1415555000{n}", float(n), returning=False, status=200) for n in range(3)]
    replies = {sent[0].phone: 0.5, sent[1].phone: 1.2}
    outcome = await capacity.await_replies(
        sent, lambda phone, _scheduled: replies.get(phone), drain_seconds=0.1
    )
    assert outcome.backlog_at_end == 1
    assert outcome.drained_after is None
    assert outcome.latencies[:2] == pytest.approx([0.5, 0.2])
    assert math.isinf(outcome.latencies[2])


async def test_service_commands_read_each_services_counter_and_skip_the_silent() -> None:
    exposition = (
        "# TYPE givecare_mongo_commands_total counter\n"
        'givecare_mongo_commands_total{command="insert",collection="inbox"} 4.0\n'
        'givecare_mongo_commands_total{command="commitTransaction",collection="-"} 2.0\n'
        "# TYPE other_total counter\n"
        "other_total 9.0\n"
    )

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "worker" and request.url.path == "/metrics":
            return httpx.Response(200, text=exposition)
        return httpx.Response(404)  # a process without /metrics (the inline baseline's)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        counts = await capacity.service_commands(
            http, {"sms-worker": "http://worker", "baseline": "http://baseline"}
        )
    assert counts == {"sms-worker insert inbox": 4.0, "sms-worker commitTransaction -": 2.0}


def test_commands_per_message_are_net_of_the_earlier_reading_and_sum_by_service() -> None:
    before = {"sms-worker insert inbox": 10.0}
    after = {"sms-worker insert inbox": 30.0, "sms-sender update outbox": 10.0}
    per_message = capacity.commands_per_message(before, after, messages=10)
    assert per_message == {"sms-worker insert inbox": 2.0, "sms-sender update outbox": 1.0}
    assert capacity.by_service(per_message) == {"sms-worker": 2.0, "sms-sender": 1.0}


def _step(target: str, rate: float, kept_up: bool) -> dict[str, Any]:
    return {
        "target": target,
        "offered_rps": rate,
        "p99_ms": 50.0,
        "kept_up": kept_up,
        "cpu_by_process": {"ingress": 100.0},
        "commands_by_service": {"ingress": 2.0},
        "commands_by_kind": {"ingress update ingress_events": 2.0},
    }


def test_the_report_names_the_highest_rate_each_target_kept_up() -> None:
    steps = [
        _step("system", 5, True),
        _step("system", 10, True),
        _step("system", 20, False),
        _step("inline baseline", 5, False),
    ]
    result = {"rows": [], "context": {"capacity": steps}}
    headline = performance_doc.render(
        "<!-- bench:headline -->\n<!-- /bench:headline -->", {"e2e": result}
    )
    assert "system 10/s, inline baseline none/s" in headline
    block = performance_doc.render(
        "<!-- bench:capacity -->\n<!-- /bench:capacity -->", {"e2e": result}
    )
    assert "kept_up" in block
    assert "cpu_by_process" not in block


async def test_a_target_that_stops_answering_gets_no_more_than_the_in_flight_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(capacity, "MAX_IN_FLIGHT", 2)
    release = asyncio.Event()
    posted = 0

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal posted
        posted += 1
        await release.wait()
        return httpx.Response(200)

    async def let_go() -> None:
        await asyncio.sleep(0.3)
        release.set()

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(answer), base_url="http://target"
    ) as http:
        sent, _ = await asyncio.gather(
            capacity.send_step(
                http,
                CaregiverPool(run=1),
                lambda _phone, _at: False,
                base_url="http://target",
                auth_token="token",
                rate=50,
                seconds=0.1,
            ),
            let_go(),
        )
    assert posted == 2
    assert [s.status for s in sent].count(None) == 3  # due while two hung: not sent
    assert [s.status for s in sent].count(200) == 2
