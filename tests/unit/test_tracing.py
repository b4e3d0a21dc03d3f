"""shared.tracing: what the OTEL_* environment turns on, the sampler, and how a trace's context
crosses a message (headers) and an outbox row (stored carrier) to a consume span."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import SpanKind
from opentelemetry.util._once import Once

from shared.events import Payload, new_event
from shared.logging import configure_logging
from shared.outbox import outbox_row
from shared.tracing import (
    ROW_TRACE_FIELD,
    TracingMisconfigured,
    _HousekeepingDropped,
    check_environment,
    consume_span,
    continued,
    current_carrier,
    publish_span,
    tracer,
)

_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def _recording() -> Iterator[None]:
    """This module's spans go to one in-memory exporter; afterwards the API is back to its no-op
    provider, as in a process without tracing (the reset is the one OpenTelemetry's own test
    utilities do: the API allows setting the global provider once per process)."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    trace.set_tracer_provider(provider)
    yield
    provider.shutdown()
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


@pytest.fixture(autouse=True)
def spans() -> Iterator[InMemorySpanExporter]:
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


class _Hello(Payload):
    EVENT_TYPE = "test.hello.said"
    text: str


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, "otlp"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "console"}, "console"),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, None),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, None),
    ],
)
def test_export_only_when_the_environment_asks(
    environ: dict[str, str], expected: str | None
) -> None:
    assert check_environment(environ) == expected


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_TRACES_SAMPLER_ARG": "2"},
            "OTEL_TRACES_SAMPLER_ARG",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_TRACES_SAMPLER_ARG": "half"},
            "OTEL_TRACES_SAMPLER_ARG",
        ),
    ],
)
def test_what_this_build_cannot_do_is_refused_naming_the_variable(
    environ: dict[str, str], named: str
) -> None:
    with pytest.raises(TracingMisconfigured, match=named):
        check_environment(environ)


def test_background_client_calls_start_no_trace_but_requests_and_consumes_do() -> None:
    sampler = _HousekeepingDropped(1.0)
    trace_id = 0x1234
    assert sampler.should_sample(None, trace_id, "find", SpanKind.CLIENT).decision is Decision.DROP
    for kind in (SpanKind.SERVER, SpanKind.CONSUMER, SpanKind.INTERNAL):
        decision = sampler.should_sample(None, trace_id, "x", kind).decision
        assert decision is Decision.RECORD_AND_SAMPLE
    assert _HousekeepingDropped(0.0).should_sample(None, 1, "x", SpanKind.SERVER).decision is (
        Decision.DROP
    )


def test_a_message_published_in_a_trace_is_consumed_in_the_same_trace(
    spans: InMemorySpanExporter,
) -> None:
    headers: dict[str, object] = {}
    with (
        tracer().start_as_current_span("webhook", kind=SpanKind.SERVER) as request,
        publish_span("sms.inbound.received", "twilio:SM1", headers),
    ):
        pass
    assert "traceparent" in headers
    # AMQP may hand header values back as bytes.
    received = {key: str(value).encode() for key, value in headers.items()}
    with consume_span("q.sms", "sms.inbound.received", "twilio:SM1", received) as span:
        assert span.get_span_context().trace_id == request.get_span_context().trace_id
    by_name = {s.name: s for s in spans.get_finished_spans()}
    publish = by_name["sms.inbound.received publish"]
    consume = by_name["sms.inbound.received process"]
    assert publish.kind is SpanKind.PRODUCER
    assert consume.kind is SpanKind.CONSUMER
    assert consume.parent is not None
    assert consume.parent.span_id == publish.context.span_id
    assert consume.attributes is not None
    assert consume.attributes["messaging.destination.name"] == "q.sms"


def test_a_message_without_context_starts_its_own_trace(spans: InMemorySpanExporter) -> None:
    with consume_span("q", "test.hello.said", None, None):
        pass
    (span,) = spans.get_finished_spans()
    assert span.parent is None


def test_an_outbox_row_keeps_the_trace_that_wrote_it_for_the_relay(
    spans: InMemorySpanExporter,
) -> None:
    event = new_event(_Hello(text="x"))
    now = datetime.now(UTC)
    assert ROW_TRACE_FIELD not in outbox_row(event, now)  # outside any trace: nothing stored
    with tracer().start_as_current_span("handler", kind=SpanKind.CONSUMER) as handler:
        row = outbox_row(event, now)
    assert current_carrier() is None
    # Later, in another task (the poller): the publish continues the stored trace.
    with continued(row[ROW_TRACE_FIELD]), publish_span(event.type, row["_id"], {}):
        pass
    publish = next(s for s in spans.get_finished_spans() if s.name.endswith("publish"))
    assert publish.context.trace_id == handler.get_span_context().trace_id
    assert publish.parent is not None
    assert publish.parent.span_id == handler.get_span_context().span_id


def test_log_lines_inside_a_span_carry_its_trace_id() -> None:
    stream = io.StringIO()
    configure_logging("test", stream=stream)
    try:
        log = structlog.get_logger("t")
        with tracer().start_as_current_span("work", kind=SpanKind.CONSUMER) as span:
            log.info("inside")
        log.info("outside")
    finally:
        configure_logging("test")
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["trace_id"] == trace.format_trace_id(span.get_span_context().trace_id)
    assert inside["span_id"] == trace.format_span_id(span.get_span_context().span_id)
    assert "trace_id" not in outside
