"""Acceptance: the LLM responder against a local fake OpenAI-compatible server, through the real
`openai` SDK — success, tool use, timeout and 5xx — and the caregiver always gets a reply; the
historical summary it keeps of messages older than the recent window; every completion's
latency and outcome on the worker's /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from prometheus_client import REGISTRY

from services.sms_worker.domain.instruments import Zone
from services.sms_worker.domain.responder import HistoryEntry, ResponderContext, RulesResponder
from services.sms_worker.llm_responder import CAREGIVER_RESOURCES, LlmResponder
from services.sms_worker.safety.lexicon import Severity
from services.sms_worker.settings import LlmSettings, SmsWorkerSettings
from shared.local_servers import free_port
from shared.ops import ops_app
from tests.fakes.openai_api import Fail, FakeOpenAIServer, Reply, Stall, ToolCall
from tests.integration.sms_worker.conftest import START, StartWorker

pytestmark = pytest.mark.integration

CONTEXT = ResponderContext(
    message="Long day with mom again",
    seed="event-1",
    first_name="Ana",
    relationship="mom",
    care_recipient_name="Rose",
    burnout_band="high",
    pressure_zones=(Zone.TIME_MANAGEMENT,),
    history=(
        HistoryEntry("inbound", "hi"),
        HistoryEntry("outbound", "Hi, I'm GiveCare."),
    ),
)


@pytest.fixture
async def openai_server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as server:
        yield server


def _responder(server: FakeOpenAIServer, **overrides: object) -> LlmResponder:
    values: dict[str, object] = {
        "base_url": server.base_url,
        "api_key": "sk-test-key",
        "model": "caregiver-model",
        "timeout_seconds": 0.5,
        "max_retries": 1,
        **overrides,
    }
    settings = LlmSettings(**values)  # type: ignore[arg-type]
    return LlmResponder.from_settings(settings, max_chars=160)


async def test_success_sends_prompt_profile_history_and_tools(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.fake.then(Reply("That sounds exhausting, Ana. What would help tonight?"))
    responder = _responder(openai_server)
    reply = await responder.reply(CONTEXT)
    await responder.close()
    assert (reply.source, reply.text) == (
        "llm",
        "That sounds exhausting, Ana. What would help tonight?",
    )
    (request,) = openai_server.fake.requests
    assert request.authorization == "Bearer sk-test-key"
    assert request.body["model"] == "caregiver-model"
    roles = [m["role"] for m in request.messages]
    assert roles == ["system", "system", "user", "assistant", "user"]
    assert "at most 160 characters" in request.messages[0]["content"]
    assert "first name Ana" in request.messages[1]["content"]
    assert "time management" in request.messages[1]["content"]
    assert request.messages[-1]["content"] == CONTEXT.message
    assert [t["function"]["name"] for t in request.body["tools"]] == ["caregiver_resources"]


async def test_tool_calls_are_answered_and_returned_for_recording(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.fake.then(
        ToolCall("caregiver_resources", {"topic": "respite"}),
        Reply("A short break could help. Try archrespite.org to find respite near you."),
    )
    responder = _responder(openai_server)
    reply = await responder.reply(CONTEXT)
    await responder.close()
    assert reply.source == "llm"
    (call,) = reply.tool_calls
    assert (call.name, call.arguments) == ("caregiver_resources", {"topic": "respite"})
    assert call.result == CAREGIVER_RESOURCES["respite"]
    second = openai_server.fake.requests[1]
    assert second.messages[-1] == {
        "role": "tool",
        "tool_call_id": call.call_id,
        "content": CAREGIVER_RESOURCES["respite"],
    }


async def test_timeout_falls_back_to_the_rules_responder(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.fake.then(Stall(3), Stall(3))
    responder = _responder(openai_server)
    reply = await responder.reply(CONTEXT)
    await responder.close()
    assert reply == RulesResponder().compose(CONTEXT)
    assert len(openai_server.fake.requests) == 2  # one try, one bounded retry


async def test_server_errors_fall_back_after_bounded_retries(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.fake.then(Fail(500), Fail(503), Fail(500))
    responder = _responder(openai_server, max_retries=2)
    reply = await responder.reply(CONTEXT)
    await responder.close()
    assert reply.source == "rules"
    assert len(openai_server.fake.requests) == 3


async def test_a_retried_server_error_can_still_succeed(openai_server: FakeOpenAIServer) -> None:
    openai_server.fake.then(Fail(500), Reply("I'm here, Ana."))
    responder = _responder(openai_server)
    reply = await responder.reply(CONTEXT)
    await responder.close()
    assert (reply.source, reply.text) == ("llm", "I'm here, Ana.")


async def test_unusable_answers_fall_back(openai_server: FakeOpenAIServer) -> None:
    responder = _responder(openai_server, max_tool_rounds=1)
    openai_server.fake.then(Reply("   "))
    assert (await responder.reply(CONTEXT)).source == "rules"
    openai_server.fake.then(*[ToolCall("caregiver_resources", {"topic": "dementia"})] * 2)
    assert (await responder.reply(CONTEXT)).source == "rules"
    await responder.close()


async def test_long_replies_are_trimmed_and_distress_is_flagged(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.fake.then(Reply("You are doing so much. " * 20))
    responder = _responder(openai_server)
    distressed = ResponderContext(message="I can't cope", seed="s", crisis_severity=Severity.MEDIUM)
    reply = await responder.reply(distressed)
    await responder.close()
    assert len(reply.text) <= 160
    assert reply.text.endswith(".")
    assert "mention 988" in openai_server.fake.requests[0].messages[1]["content"]


def _timed(operation: str, outcome: str) -> float:
    labels = {"operation": operation, "outcome": outcome}
    return REGISTRY.get_sample_value("givecare_llm_request_seconds_count", labels) or 0.0


async def test_every_completion_is_timed_by_operation_and_outcome(
    openai_server: FakeOpenAIServer,
) -> None:
    """`givecare_llm_request_seconds` on the worker's /metrics: each completion once, whatever
    became of it, with the SDK's retries inside it."""
    cases = [("reply", "ok"), ("reply", "timeout"), ("reply", "503"), ("reply", "connection")]
    cases += [("summary", "ok")]
    before = {case: _timed(*case) for case in cases}
    responder = _responder(openai_server, max_retries=0)
    openai_server.fake.then(
        ToolCall("caregiver_resources", {"topic": "respite"}),
        Reply("Rest matters too, Ana."),
        Stall(3),
        Fail(503),
        Reply(SUMMARY),
    )
    assert (await responder.reply(CONTEXT)).source == "llm"  # two completions: a tool round
    assert (await responder.reply(CONTEXT)).source == "rules"
    assert (await responder.reply(CONTEXT)).source == "rules"
    assert await responder.summarise(None, CONTEXT.history) is not None
    await responder.close()
    nobody = _responder(openai_server, base_url=f"http://127.0.0.1:{free_port()}/v1")
    assert (await nobody.reply(CONTEXT)).source == "rules"
    await nobody.close()

    counted = {case: _timed(*case) - before[case] for case in cases}
    assert counted == {
        ("reply", "ok"): 2,
        ("reply", "timeout"): 1,
        ("reply", "503"): 1,
        ("reply", "connection"): 1,
        ("summary", "ok"): 1,
    }
    metrics = await _ops_metrics()
    assert 'givecare_llm_request_seconds_count{operation="reply",outcome="ok"}' in metrics
    assert 'givecare_llm_request_seconds_bucket{le="0.5",operation="summary",outcome="ok"}' in (
        metrics
    )


async def _ops_metrics() -> str:
    """What the worker's ops port serves at /metrics."""
    transport = httpx.ASGITransport(app=ops_app({}))
    async with httpx.AsyncClient(transport=transport, base_url="http://ops") as http:
        return (await http.get("/metrics")).text


async def test_worker_replies_with_the_llm_and_records_tool_calls(
    start_sms_worker: StartWorker, openai_server: FakeOpenAIServer
) -> None:
    responder = _responder(openai_server)
    async with start_sms_worker(responder=responder) as worker:
        for minute, text in enumerate(["hi", "Ana", "my mom", "Rose", "02139"]):
            await worker.text(text, at=START + timedelta(minutes=minute))
        assert openai_server.fake.requests == []  # onboarding is rules, not the model

        openai_server.fake.then(
            ToolCall("caregiver_resources", {"topic": "respite"}),
            Reply("Ana, a short break could help: archrespite.org finds respite near you."),
        )
        event = worker.inbound("I need a break from caring", at=START + timedelta(hours=1))
        await worker.publish(event)
        await worker.handled(event)
        (reply,) = await worker.requested(event)
        assert reply.body.startswith("Ana, a short break could help")
        (call,) = [row async for row in worker.db.tool_calls.find({})]
        assert call["message_id"] == f"out:reply:{event.id}"
        assert (call["tool_name"], call["args"]) == ("caregiver_resources", {"topic": "respite"})
        # The model saw the recent conversation, oldest first.
        history = openai_server.fake.requests[-1].messages[2:-1]
        assert history[0] == {"role": "user", "content": "hi"}

        openai_server.fake.then(Fail(500), Fail(500))
        (fallback,) = await worker.text("still here", at=START + timedelta(hours=2))
        assert fallback.kind == "reply"
        assert fallback.body.startswith("Ana")
    await responder.close()


SUMMARY = "The caregiver, Ana, looks after her mother Rose and is short on sleep."
CRISIS_TEXT = "I can't do this anymore. I want to end my life"


async def test_summarise_folds_new_messages_into_the_summary_so_far(
    openai_server: FakeOpenAIServer,
) -> None:
    openai_server.fake.then(Reply(SUMMARY))
    responder = _responder(openai_server)
    summary = await responder.summarise("Ana cares for Rose.", CONTEXT.history)
    assert summary is not None
    assert summary.text == SUMMARY
    (request,) = openai_server.fake.requests
    system, transcript = request.messages
    assert "running summary" in system["content"]
    assert transcript["content"] == (
        "Summary so far: Ana cares for Rose.\n\nMessages since:\n"
        "Caregiver: hi\nGiveCare: Hi, I'm GiveCare."
    )

    # A reply made afterwards is told what the summary says.
    openai_server.fake.then(Reply("How did Rose sleep last night?"))
    await responder.reply(ResponderContext(message="back again", seed="s", summary=SUMMARY))
    notes = [
        m["content"] for m in openai_server.fake.requests[-1].messages if m["role"] == "system"
    ]
    assert notes[-1] == "Earlier in this conversation (a summary): " + SUMMARY

    # A model that fails or answers nothing leaves the old summary alone.
    openai_server.fake.then(Fail(500), Fail(500), Reply("  "))
    assert await responder.summarise(SUMMARY, CONTEXT.history) is None
    assert await responder.summarise(SUMMARY, CONTEXT.history) is None
    await responder.close()


async def test_worker_keeps_a_summary_before_messages_leave_the_window(
    start_sms_worker: StartWorker, openai_server: FakeOpenAIServer
) -> None:
    """Window of 6 entries, summary after 4 new ones: onboarding's five exchanges (ten entries)
    would otherwise have left the window unread."""
    responder = _responder(openai_server)
    settings = SmsWorkerSettings(recent_messages=6, summary_after_messages=4)
    openai_server.fake.default_reply = SUMMARY
    async with start_sms_worker(responder=responder, settings=settings) as worker:
        texts = ["hi", "Ana", "my mom", "Rose", "02139"]
        for minute, text in enumerate(texts):
            await worker.text(text, at=START + timedelta(minutes=minute))
        user = await worker.user()
        state = await worker.db.conversation_state.find_one({"_id": user["_id"]})
        assert state is not None
        # Summaries at the third and the fifth message (4 new entries each time).
        summaries = [r for r in openai_server.fake.requests if "running summary" in str(r.body)]
        assert len(summaries) == 2
        assert (state["historical_summary"], state["historical_summary_version"]) == (SUMMARY, 2)
        assert state["historical_summary_through"] == state["recent_messages"][-3]["id"]
        second = summaries[1].messages[1]["content"]
        assert second.startswith(f"Summary so far: {SUMMARY}")
        assert "Caregiver: Rose" in second

        # The reply to the next message is written knowing the summary.
        (reply,) = await worker.text("long week", at=START + timedelta(hours=1))
        assert reply.body == SUMMARY
        note = "Earlier in this conversation (a summary): " + SUMMARY
        assert note in [m["content"] for m in openai_server.fake.requests[-1].messages]

        # A summary is due again, but a crisis reply never waits for one; the next message
        # folds what is in the window (the last entry summarised has left it meanwhile).
        (crisis,) = await worker.text(CRISIS_TEXT, at=START + timedelta(hours=2))
        assert crisis.kind == "crisis"
        assert sum("running summary" in str(r.body) for r in openai_server.fake.requests) == 2
        await worker.text("thanks", at=START + timedelta(hours=3))
        state = await worker.db.conversation_state.find_one({"_id": user["_id"]})
        assert state is not None
        assert state["historical_summary_version"] == 3
        assert state["historical_summary_through"] == state["recent_messages"][-3]["id"]
    await responder.close()
