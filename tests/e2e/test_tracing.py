"""Tracing through the whole running system: the processes export over OTLP to a local collector,
and one caregiver's SMS is one trace, from ingress's webhook request through the broker, the SMS
worker and the sender, ending in the Twilio call; the log lines of its handling carry the trace's
id; and no span carries the caregiver's number or words."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from services.sms_worker.domain import replies
from tests.support.otlp_collector import OtlpCollector, ReceivedSpan
from tests.support.system import REPLY_TIMEOUT, System
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

PHONE = "+15555550161"
TEXT = "hi there, Maria here"


@pytest.fixture(scope="module")
async def collector() -> AsyncIterator[OtlpCollector]:
    async with OtlpCollector() as running:
        yield running


@pytest.fixture(scope="module")
def module_environment(collector: OtlpCollector) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # milliseconds: spans reach the collector promptly
    }


def _webhook_publish(spans: list[ReceivedSpan], message_sid: str) -> ReceivedSpan | None:
    """Ingress's publish of this SMS (its outbox row is keyed by the provider's message sid)."""
    for span in spans:
        if (
            span.kind == "SPAN_KIND_PRODUCER"
            and span.attributes.get("messaging.message.id") == f"twilio:{message_sid}"
        ):
            return span
    return None


def _twilio_calls(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    return [
        span
        for span in spans
        if span.service == "sms_sender"
        and span.kind == "SPAN_KIND_CLIENT"
        and "/Messages.json"
        in str(span.attributes.get("http.url", span.attributes.get("url.full")))
    ]


async def test_one_sms_is_one_trace_from_the_webhook_to_the_twilio_call(
    system: System, collector: OtlpCollector
) -> None:
    caregiver = system.caregiver(PHONE)
    message_sid = await caregiver.text(TEXT)
    assert await caregiver.replies_to(message_sid) == [replies.WELCOME]

    async def whole_trace() -> list[ReceivedSpan] | None:
        publish = _webhook_publish(collector.spans, message_sid)
        if publish is None:
            return None
        spans = collector.trace(publish.trace_id)
        ids = {span.span_id for span in spans}
        # Complete once the Twilio call is in and every parent has ended (and been exported).
        whole = all(span.parent_span_id in ids for span in spans if span.parent_span_id)
        return spans if whole and _twilio_calls(spans) else None

    spans = await eventually(whole_trace, timeout=REPLY_TIMEOUT)
    trace_id = spans[0].trace_id

    # One tree (every parent is in the trace, above), with a single root: ingress's request.
    roots = [span for span in spans if span.parent_span_id is None]
    assert len(roots) == 1, [span.name for span in roots]
    assert roots[0].service == "ingress"
    assert roots[0].kind == "SPAN_KIND_SERVER"

    by_service = {span.service for span in spans}
    assert {"ingress", "sms_worker", "sms_sender"} <= by_service
    consumed = {
        (span.service, span.attributes["givecare.event_type"])
        for span in spans
        if span.kind == "SPAN_KIND_CONSUMER"
    }
    assert ("sms_worker", "sms.inbound.received") in consumed
    assert ("sms_sender", "sms.outbound.requested") in consumed
    assert any(span.attributes.get("db.system") == "mongodb" for span in spans)
    # The Twilio call is a child of the sender's consume of the request.
    (call,) = _twilio_calls(spans)
    parents = {span.span_id: span for span in spans}
    ancestor = parents[call.parent_span_id] if call.parent_span_id else None
    while ancestor is not None and ancestor.kind != "SPAN_KIND_CONSUMER":
        ancestor = parents.get(ancestor.parent_span_id or "")
    assert ancestor is not None
    assert ancestor.service == "sms_sender"

    # Log lines of the handling carry the trace id, so a trace leads to its logs.
    lines = [json.loads(line) for line in system.logs().splitlines() if line.startswith(b"{")]
    assert {line["service"] for line in lines if line.get("trace_id") == trace_id} >= {"sms_worker"}

    # Nothing personal in any span: not the number, not the words.
    exported = repr(collector.spans)
    assert PHONE not in exported
    assert PHONE.lstrip("+") not in exported
    assert TEXT not in exported
