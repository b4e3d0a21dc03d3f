"""OpenTelemetry tracing: one trace per inbound message, across every process it passes through.

The trace starts at ingress's webhook request (FastAPI instrumentation) and follows the event
through the broker: the W3C `traceparent` travels in each AMQP message's headers, and an outbox
row stores the context it was written in, so a relay (the same process right after the commit,
or a poller minutes later) publishes the row as part of the trace that wrote it. Each consume is
a span whose parent is the publish; MongoDB commands and the Twilio, Stripe and LLM HTTP calls
are spans of the maintained instrumentations (PyMongo's command listener, httpx, aiohttp).

Configuration is the standard `OTEL_*` environment. Spans are exported over OTLP (HTTP/protobuf)
only when an endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT` or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_TRACES_EXPORTER=otlp|console`); otherwise no SDK
is installed and every call here is the API's no-op, so a process without a collector pays
nothing. `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn it off explicitly.

What spans never carry: message bodies, phone numbers, database filters (PyMongo's statement
capture stays off), webhook form fields. The admin API is not traced: its paths name caregivers.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import Any, Final

import structlog
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

from shared.config import ConfigError

log = structlog.get_logger(__name__)

TRACER_NAME: Final = "givecare"
# The outbox row's field holding the W3C carrier of the context that wrote it.
ROW_TRACE_FIELD: Final = "trace"
# Ops endpoints a scraper or a probe calls every few seconds, and the admin API (its paths name
# people). Comma-separated patterns, searched in the request's URL (the instrumentation's format).
UNTRACED_PATHS: Final = "/metrics$,/healthz$,/readyz$,/admin"

_EXPORTERS: Final = ("otlp", "console")
_HTTP_PROTOCOLS: Final = ("http/protobuf",)


class TracingMisconfigured(ConfigError):
    """The `OTEL_*` environment asks for something this build cannot do."""


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def chosen_exporter(environ: Mapping[str, str]) -> str | None:
    """The exporter the environment asks for, or None for no tracing at all."""
    if _truthy(environ.get("OTEL_SDK_DISABLED")):
        return None
    named = (environ.get("OTEL_TRACES_EXPORTER") or "").strip().lower()
    if named == "none":
        return None
    if named:
        if named not in _EXPORTERS:
            raise TracingMisconfigured(
                f"OTEL_TRACES_EXPORTER={named!r} is not supported (choose otlp, console or none)"
            )
        return named
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    return "otlp" if endpoint else None


class _HousekeepingDropped(Sampler):
    """Root spans of kind CLIENT are background housekeeping (a relay's poll, a gauge refresh,
    the driver's own pings), not a caregiver's message: they are not recorded. Every other root
    is sampled by `ratio` (`OTEL_TRACES_SAMPLER_ARG`, default 1)."""

    def __init__(self, ratio: float) -> None:
        self._ratio = TraceIdRatioBased(ratio)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        if kind is SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return self._ratio.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"HousekeepingDropped{{{self._ratio.get_description()}}}"


def check_environment(environ: Mapping[str, str] | None = None) -> str | None:
    """The exporter the `OTEL_*` environment chooses (None: off); TracingMisconfigured, naming
    the variable, when it asks for what this build cannot do."""
    env = os.environ if environ is None else environ
    kind = chosen_exporter(env)
    if kind == "otlp":
        protocol = (
            env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            or "http/protobuf"
        )
        if protocol not in _HTTP_PROTOCOLS:
            raise TracingMisconfigured(
                f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported (this build exports "
                "http/protobuf)"
            )
    if kind is not None:
        _ratio(env)
    return kind


def _exporter(kind: str) -> SpanExporter:
    if kind == "console":
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout: from the OTEL_* environment


def _ratio(environ: Mapping[str, str]) -> float:
    raw = environ.get("OTEL_TRACES_SAMPLER_ARG")
    if not raw:
        return 1.0
    try:
        ratio = float(raw)
    except ValueError:
        raise TracingMisconfigured("OTEL_TRACES_SAMPLER_ARG must be a ratio in [0, 1]") from None
    if not 0.0 <= ratio <= 1.0:
        raise TracingMisconfigured("OTEL_TRACES_SAMPLER_ARG must be a ratio in [0, 1]")
    return ratio


_provider: TracerProvider | None = None


def configure_tracing(
    service: str, environ: Mapping[str, str] | None = None
) -> TracerProvider | None:
    """Install the SDK and the client instrumentations when the environment asks for export;
    return the provider (None: tracing is off). Call once per process, before any client is
    created (the aiohttp instrumentation wraps sessions made after it)."""
    global _provider
    env = os.environ if environ is None else environ
    kind = check_environment(env)
    if kind is None or _provider is not None:
        return _provider
    name = env.get("OTEL_SERVICE_NAME") or service
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: name}),  # + OTEL_RESOURCE_ATTRIBUTES
        sampler=ParentBased(root=_HousekeepingDropped(_ratio(env))),
    )
    provider.add_span_processor(BatchSpanProcessor(_exporter(kind)))  # OTEL_BSP_* apply
    trace.set_tracer_provider(provider)
    _instrument_clients()
    _provider = provider
    log.info("tracing on", exporter=kind, service_name=name)
    return provider


def _instrument_clients() -> None:
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

    PymongoInstrumentor().instrument()  # statements stay uncaptured: filters name people
    HTTPXClientInstrumentor().instrument()  # Stripe and the LLM (OpenAI SDK)
    AioHttpClientInstrumentor().instrument()  # Twilio's async client


def shutdown_tracing() -> None:
    """Export what is buffered before the process exits (a no-op when tracing is off)."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None


def instrument_app(app: Any) -> None:
    """Server spans for a FastAPI app's requests (none for ops and admin paths); a no-op
    when tracing is off."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=_provider, excluded_urls=UNTRACED_PATHS)


def current_carrier() -> dict[str, str] | None:
    """The W3C carrier of the span in hand (to store on an outbox row), None outside one."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None


def _text_headers(headers: Mapping[str, Any] | None) -> dict[str, str]:
    # AMQP header values may arrive as bytes; the propagator reads text.
    found: dict[str, str] = {}
    for key, value in (headers or {}).items():
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            found[key] = value
    return found


def context_from(carrier: Mapping[str, Any] | None) -> Context:
    """The context a carrier (AMQP headers, an outbox row's field) continues."""
    return propagate.extract(_text_headers(carrier))


@contextlib.contextmanager
def continued(carrier: Mapping[str, Any] | None) -> Iterator[None]:
    """Make the stored context current inside the block (a relay publishing an outbox row);
    without a carrier, the current context stays."""
    if not carrier:
        yield
        return
    token = otel_context.attach(context_from(carrier))
    try:
        yield
    finally:
        otel_context.detach(token)


@contextlib.contextmanager
def publish_span(
    event_type: str, message_id: str, headers: MutableMapping[str, Any]
) -> Iterator[None]:
    """A PRODUCER span around one publish, its context injected into the message `headers`."""
    with tracer().start_as_current_span(
        f"{event_type} publish",
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "send",
            "messaging.destination.name": event_type,
            "messaging.message.id": message_id,
        },
    ):
        propagate.inject(headers)
        yield


@contextlib.contextmanager
def consume_span(
    queue: str,
    event_type: str,
    message_id: str | None,
    headers: Mapping[str, Any] | None,
    correlation_id: str | None = None,
) -> Iterator[trace.Span]:
    """A CONSUMER span around one handler run, child of the publish that sent the message; it
    names the event's correlation id, which the logs and the admin API also show."""
    attributes: dict[str, str] = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "process",
        "messaging.destination.name": queue,
        "givecare.event_type": event_type,
    }
    if correlation_id:
        attributes["givecare.correlation_id"] = correlation_id
    if message_id:
        attributes["messaging.message.id"] = message_id
    with tracer().start_as_current_span(
        f"{event_type} process",
        context=context_from(headers),
        kind=SpanKind.CONSUMER,
        attributes=attributes,
    ) as span:
        yield span
