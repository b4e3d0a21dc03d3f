"""A local OTLP/HTTP trace collector that keeps what the services export, in memory.

The services run as separate processes, so an in-process exporter cannot see their spans; they
export over OTLP/HTTP (protobuf) as in production, to this collector on 127.0.0.1, and a test
reads the spans it received. Decoding uses the protocol's own message types (`opentelemetry-proto`,
which the exporter depends on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.devtools.loopback import LoopbackServer

_PROTOBUF = "application/x-protobuf"


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    attributes: dict[str, Any]


def _attribute_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def _spans_of(request: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    received = []
    for resource_spans in request.resource_spans:
        resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
        service = resource.get("service.name", "")
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                attributes = {a.key: _attribute_value(a.value) for a in span.attributes}
                received.append(
                    ReceivedSpan(
                        service=service,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        name=span.name,
                        kind=span.SpanKind.Name(span.kind),
                        attributes=attributes,
                    )
                )
    return received


class OtlpCollector(LoopbackServer):
    """`async with OtlpCollector() as collector:` receives at `collector.url` + `/v1/traces`."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        super().__init__(Starlette(routes=[Route("/v1/traces", self._receive, methods=["POST"])]))

    async def _receive(self, request: Request) -> Response:
        if request.headers.get("content-type") != _PROTOBUF:
            return Response(status_code=415)
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.body())
        self.spans.extend(_spans_of(message))
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type=_PROTOBUF)

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [span for span in self.spans if span.trace_id == trace_id]
