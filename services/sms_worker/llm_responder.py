"""The LLM responder: an OpenAI-compatible chat-completions endpoint writes the reply.

Enabled by `LLM_BASE_URL`. The official `openai` SDK does the HTTP with a timeout and bounded
retries; anything that still goes wrong (timeouts, 5xx, empty or endless tool use) falls back to
the rules responder, so a caregiver is never left without an answer. The system prompt lives in
`prompts/responder_system.md`; tool calls are returned for the handler to record. The same model
keeps the conversation's historical summary (`prompts/summary_system.md`): what it said before
the recent messages the reply sees.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import openai
import structlog
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion

from services.sms_worker.domain.assessments import zone_label
from services.sms_worker.domain.responder import (
    HistoryEntry,
    ResponderContext,
    ResponderReply,
    RulesResponder,
    Summary,
    ToolCallRecord,
    fit_sms,
)
from services.sms_worker.metrics import LLM_REQUEST_SECONDS
from services.sms_worker.settings import LlmSettings

log = structlog.get_logger(__name__)

SYSTEM_PROMPT_FILE = "responder_system.md"
SUMMARY_PROMPT_FILE = "summary_system.md"
# The prompt asks for 800; a model that runs on is cut here, at a sentence if it can be.
SUMMARY_MAX_CHARS = 1_000

# Practical, national (US) resources the model may pass on; it gets only these, never a URL it
# made up.
CAREGIVER_RESOURCES: Mapping[str, str] = {
    "respite": "ARCH National Respite Locator finds short breaks near you: archrespite.org",
    "financial": "BenefitsCheckUp (National Council on Aging) finds help paying for care: "
    "benefitscheckup.org",
    "support_group": "Caregiver Action Network help desk, for support and groups: 855-227-3640",
    "dementia": "Alzheimer's Association 24/7 helpline: 800-272-3900",
    "local_services": "Eldercare Locator connects you to local aging services: 800-677-1116",
    "crisis": "Call or text 988 (Suicide & Crisis Lifeline), or text HOME to 741741",
}
RESOURCES_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "caregiver_resources",
        "description": "A vetted national resource for a caregiver's practical need.",
        "parameters": {
            "type": "object",
            "properties": {"topic": {"type": "string", "enum": sorted(CAREGIVER_RESOURCES)}},
            "required": ["topic"],
            "additionalProperties": False,
        },
    },
}


class ResponderFailed(Exception):
    """The model gave no usable reply (empty, or still calling tools after the last round)."""


def load_system_prompt(name: str = SYSTEM_PROMPT_FILE) -> str:
    return (
        resources.files("services.sms_worker").joinpath("prompts", name).read_text(encoding="utf-8")
    )


def _transcript(previous: str | None, entries: Sequence[HistoryEntry]) -> str:
    lines = [f"Summary so far: {previous or '(none yet)'}", "", "Messages since:"]
    for entry in entries:
        speaker = "Caregiver" if entry.direction == "inbound" else "GiveCare"
        lines.append(f"{speaker}: {entry.body}")
    return "\n".join(lines)


def _profile_note(context: ResponderContext) -> str:
    facts = []
    if context.first_name:
        facts.append(f"first name {context.first_name}")
    if context.relationship:
        cared_for = f"cares for their {context.relationship}"
        if context.care_recipient_name:
            cared_for += f" ({context.care_recipient_name})"
        facts.append(cared_for)
    if context.burnout_band:
        facts.append(f"burnout band {context.burnout_band}")
    if context.pressure_zones:
        facts.append("pressure zones: " + ", ".join(zone_label(z) for z in context.pressure_zones))
    note = "About the caregiver: " + ("; ".join(facts) if facts else "nothing known yet") + "."
    if context.crisis_severity is not None:
        note += " Their latest message shows distress: be gentle and mention 988."
    return note


def _run_tool(name: str, raw_arguments: str) -> tuple[dict[str, Any], str]:
    try:
        arguments = json.loads(raw_arguments or "{}")
    except json.JSONDecodeError:
        arguments = {}
    if not isinstance(arguments, dict):
        arguments = {}
    if name != "caregiver_resources":
        return arguments, "unknown tool"
    topic = arguments.get("topic")
    found = CAREGIVER_RESOURCES.get(topic) if isinstance(topic, str) else None
    return arguments, found or "no resource for that topic"


class LlmResponder:
    """Chat completions with a resources tool; the rules responder whenever that fails."""

    uses_history = True

    def __init__(
        self,
        client: AsyncOpenAI,
        settings: LlmSettings,
        fallback: RulesResponder,
        *,
        max_chars: int,
        system_prompt: str | None = None,
    ) -> None:
        self._client = client
        self._settings = settings
        self._fallback = fallback
        self._max_chars = max_chars
        self._system_prompt = system_prompt or load_system_prompt()
        self._summary_prompt = load_system_prompt(SUMMARY_PROMPT_FILE)

    @classmethod
    def from_settings(cls, settings: LlmSettings, *, max_chars: int) -> LlmResponder:
        api_key = settings.api_key.get_secret_value() if settings.api_key else "not-needed"
        client = AsyncOpenAI(
            api_key=api_key,
            base_url=settings.base_url,
            timeout=settings.timeout_seconds,
            max_retries=settings.max_retries,
        )
        return cls(client, settings, RulesResponder(max_chars), max_chars=max_chars)

    async def close(self) -> None:
        await self._client.close()

    async def reply(self, context: ResponderContext) -> ResponderReply:
        try:
            return await self._complete(context)
        except Exception as error:
            # Never the message or the reply in the log: only what failed.
            log.warning("llm responder failed; rules responder answers", error=type(error).__name__)
            return self._fallback.compose(context)

    async def summarise(
        self, previous: str | None, entries: Sequence[HistoryEntry]
    ) -> Summary | None:
        """One completion; any failure keeps the old summary (the next message tries again)."""
        try:
            completion = await self._completion(
                "summary",
                messages=[
                    {"role": "system", "content": self._summary_prompt},
                    {"role": "user", "content": _transcript(previous, entries)},
                ],
                max_tokens=self._settings.summary_max_tokens,
            )
        except Exception as error:
            log.warning("conversation summary failed; kept the old one", error=type(error).__name__)
            return None
        content = completion.choices[0].message.content if completion.choices else None
        text = fit_sms(content or "", SUMMARY_MAX_CHARS)
        if not text:
            log.warning("conversation summary came back empty; kept the old one")
            return None
        tokens = completion.usage.total_tokens if completion.usage else None
        return Summary(text, tokens)

    async def _completion(self, operation: str, **request: Any) -> ChatCompletion:
        """One chat completion with the configured model, its latency and outcome observed
        (`givecare_llm_request_seconds`) however it ends."""
        started = time.perf_counter()
        outcome = "error"
        try:
            # Without `stream`, the SDK answers with a whole ChatCompletion.
            completion: ChatCompletion = await self._client.chat.completions.create(
                model=self._settings.model, **request
            )
            outcome = "ok"
            return completion
        except openai.APITimeoutError:  # before its base class, APIConnectionError
            outcome = "timeout"
            raise
        except openai.APIConnectionError:
            outcome = "connection"
            raise
        except openai.APIStatusError as error:
            outcome = str(error.status_code)
            raise
        finally:
            LLM_REQUEST_SECONDS.labels(operation, outcome).observe(time.perf_counter() - started)

    async def _complete(self, context: ResponderContext) -> ResponderReply:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": self._system_prompt},
            {"role": "system", "content": _profile_note(context)},
        ]
        if context.summary:
            earlier = "Earlier in this conversation (a summary): " + context.summary
            messages.append({"role": "system", "content": earlier})
        for entry in context.history:
            role = "user" if entry.direction == "inbound" else "assistant"
            messages.append({"role": role, "content": entry.body})
        messages.append({"role": "user", "content": context.message})
        records: list[ToolCallRecord] = []
        for _ in range(self._settings.max_tool_rounds + 1):
            completion = await self._completion(
                "reply",
                messages=messages,
                tools=[RESOURCES_TOOL],
                max_tokens=self._settings.max_tokens,
            )
            if not completion.choices:
                raise ResponderFailed("no choices")
            message = completion.choices[0].message
            calls = [call for call in message.tool_calls or [] if call.type == "function"]
            if not calls:
                text = fit_sms(message.content or "", self._max_chars)
                if not text:
                    raise ResponderFailed("empty reply")
                log.info("llm replied", tool_calls=[r.name for r in records])
                return ResponderReply(text, "llm", tuple(records))
            messages.append(message.model_dump(exclude_none=True))
            for call in calls:
                arguments, result = _run_tool(call.function.name, call.function.arguments)
                records.append(ToolCallRecord(call.id, call.function.name, arguments, result))
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
        raise ResponderFailed("still calling tools after the last round")
