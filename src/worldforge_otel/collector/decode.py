"""OTLP requests (protobuf or OTLP/JSON) -> the OpenTelemetry SDK's span, metric and log objects.

Spans are decoded straight into sanitized spans (the trust boundary's ``new_clean_span``), so the exporter
does not clean them a second time; metrics and logs are cleaned by the exporters.

Each ``*_from_request`` returns what it could read, grouped by ``service.name``, and how many items it
rejected (with a reason), for the OTLP ``partial_success`` answer. An item is rejected when its ids are not
the sizes OTLP requires (16-byte trace id, 8-byte span id) or its value cannot be read; the rest of the
request is kept. OTLP/JSON differs from protobuf's JSON mapping only in its ids (hex, not base64):
:func:`parse_json` converts them and ignores unknown fields, as the specification asks of receivers.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar, cast

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry._logs import SeverityNumber
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ProtoResource
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope as SdkScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from worldforge_otel.boundary import clean_pairs, new_clean_span
from worldforge_otel.rerun.layout import UNKNOWN_SERVICE

_HEX_ID_FIELDS: Final = frozenset({"traceId", "spanId", "parentSpanId"})
_T = TypeVar("_T")


class MalformedRequestError(ValueError):
    """The request body is not an OTLP message of the expected kind (answered with 400 / INVALID_ARGUMENT)."""


@dataclass
class Decoded(Generic[_T]):
    """What a request held, by ``service.name``, and what was rejected."""

    by_service: dict[str, list[_T]] = field(default_factory=dict)
    rejected: int = 0
    reason: str = ""

    def add(self, service: str, item: _T) -> None:
        """Keep ``item`` under ``service``."""
        self.by_service.setdefault(service, []).append(item)

    def reject(self, reason: str) -> None:
        """Count one rejected item; the first reason is the one reported."""
        self.rejected += 1
        self.reason = self.reason or reason


@dataclass(frozen=True, slots=True)
class ReceivedLogRecord:
    """A received log record, shaped like the SDK's (what the Rerun log exporter reads)."""

    timestamp: int | None
    observed_timestamp: int | None
    severity_number: SeverityNumber | None
    severity_text: str | None
    body: Any
    attributes: Mapping[str, Any]
    trace_id: int
    span_id: int
    event_name: str | None = None


@dataclass(frozen=True, slots=True)
class ReceivedLog:
    """A received log record with its resource and scope, shaped like the SDK's ``LogData``."""

    log_record: ReceivedLogRecord
    resource: Resource
    instrumentation_scope: SdkScope | None


# -- parsing -------------------------------------------------------------------------------------------------


def parse_protobuf(body: bytes, message_type: type[_T]) -> _T:
    """``message_type`` parsed from protobuf bytes; :class:`MalformedRequestError` when they are not one."""
    message = message_type()
    try:
        message.ParseFromString(body)  # type: ignore[attr-defined]
    except (DecodeError, RuntimeError, ValueError) as error:
        raise MalformedRequestError(f"not a protobuf {message_type.__name__}: {error}") from None
    return message


def parse_json(text: str | bytes, message_type: type[_T]) -> _T:
    """``message_type`` parsed from OTLP/JSON text (hex ids, unknown fields ignored)."""
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedRequestError(f"not JSON: {error}") from None
    except RecursionError:
        raise MalformedRequestError("the JSON is nested too deeply") from None
    return from_json_document(document, message_type)


def from_json_document(document: object, message_type: type[_T]) -> _T:
    """``message_type`` from an already parsed OTLP/JSON document."""
    if not isinstance(document, dict):
        raise MalformedRequestError(f"expected a JSON object ({message_type.__name__}), got {type(document).__name__}")
    try:
        message: Message = message_type()  # type: ignore[assignment]
        json_format.ParseDict(_hex_ids_to_base64(document), message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError) as error:
        raise MalformedRequestError(f"not an OTLP/JSON {message_type.__name__}: {error}") from None
    except RecursionError:
        raise MalformedRequestError(f"the OTLP/JSON {message_type.__name__} is nested too deeply") from None
    return cast("_T", message)


def to_json(message: Message) -> str:
    """OTLP/JSON of ``message`` (hex ids), e.g. for answers to JSON requests and test files."""
    document = json_format.MessageToDict(message)
    return json.dumps(_ids_to_hex(document), separators=(",", ":"))


def _hex_ids_to_base64(value: Any) -> Any:
    if isinstance(value, dict):
        converted = {}
        for key, item in value.items():
            if key in _HEX_ID_FIELDS and isinstance(item, str):
                try:
                    converted[key] = base64.b64encode(bytes.fromhex(item)).decode()
                except ValueError:
                    raise MalformedRequestError(f"{key} {item[:40]!r} is not hex (OTLP/JSON ids are hex)") from None
            else:
                converted[key] = _hex_ids_to_base64(item)
        return converted
    if isinstance(value, list):
        return [_hex_ids_to_base64(item) for item in value]
    return value


def _ids_to_hex(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: base64.b64decode(item).hex() if key in _HEX_ID_FIELDS and isinstance(item, str) else _ids_to_hex(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_ids_to_hex(item) for item in value]
    return value


# -- values, resources, scopes -------------------------------------------------------------------------------


def any_value(value: AnyValue, _depth: int = 0) -> Any:
    """An OTLP ``AnyValue`` as a Python value (lists and maps kept as such; bytes as bytes).

    Lists and maps nested deeper than :data:`MAX_VALUE_DEPTH` are replaced by a note (a sender cannot make the
    decoder recurse without bound).
    """
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind in ("array_value", "kvlist_value") and _depth >= MAX_VALUE_DEPTH:
        return f"<nested deeper than {MAX_VALUE_DEPTH}>"
    if kind == "array_value":
        return [any_value(item, _depth + 1) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {item.key: any_value(item.value, _depth + 1) for item in value.kvlist_value.values}
    return getattr(value, kind)


MAX_VALUE_DEPTH: Final = 16  # protobuf itself stops near 33 (100 nested messages)


def attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    """OTLP attributes as OTel attribute values (see :func:`attribute_value`); pairs without a value are left out."""
    result: dict[str, Any] = {}
    for pair in pairs:
        value = attribute_value(pair.value)
        if value is not None:
            result[pair.key] = value
    return result


def clean_attributes_of(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    """OTLP attributes decoded and sanitized in one pass (the trust boundary's :func:`clean_pairs`)."""
    return clean_pairs(pairs, attribute_value)


def attribute_value(value: AnyValue) -> Any:
    """An OTLP value as an OTel attribute value: primitives and homogeneous lists kept, the rest as text."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind in _PRIMITIVES:
        return getattr(value, kind)
    decoded = any_value(value)
    if isinstance(decoded, list) and _homogeneous(decoded):
        return tuple(decoded)
    if isinstance(decoded, dict | list):
        return json.dumps(decoded, default=_bytes_as_hex, separators=(",", ":"))
    if isinstance(decoded, bytes):
        return decoded.hex()
    return decoded


_PRIMITIVES: Final = frozenset({"bool_value", "int_value", "double_value"})


def _homogeneous(values: list[Any]) -> bool:
    kinds = {type(item) for item in values}
    return len(kinds) <= 1 and kinds <= {str, bool, int, float}


def _bytes_as_hex(value: object) -> str:
    return value.hex() if isinstance(value, bytes) else str(value)


def resource(proto: ProtoResource) -> tuple[str, Resource]:
    """The service name and the SDK resource of an OTLP resource (its attributes exactly as sent)."""
    sdk = Resource(attributes(proto.attributes))
    return str(sdk.attributes.get("service.name", UNKNOWN_SERVICE)), sdk


def scope(proto: InstrumentationScope) -> SdkScope:
    return SdkScope(proto.name, proto.version or None)


def _scoped_items(groups: Iterable[Any], scopes: str, items: str) -> Iterator[tuple[str, Resource, SdkScope, Any]]:
    """``(service, resource, scope, item)`` for every span or log record of the request's resource groups."""
    for group in groups:
        service, sdk_resource = resource(group.resource)
        for scoped in getattr(group, scopes):
            sdk_scope = scope(scoped.scope)
            for item in getattr(scoped, items):
                yield service, sdk_resource, sdk_scope, item


MAX_TIME_NS: Final = 2**63 - 1  # the latest time a recording can hold (datetime64[ns]: April 2262)
_TIME_REASON: Final = "a {item}'s times must be nanoseconds since 1970 below 2**63 (the year 2262)"


def _times_fit(*times: int) -> bool:
    """Whether every time (OTLP ``fixed64`` nanoseconds, 0 when unset) can be written to a recording."""
    return all(time <= MAX_TIME_NS for time in times)


def _id(raw: bytes, size: int) -> int | None:
    """The id as an int when it has OTLP's size and is not all zeros."""
    if len(raw) != size:
        return None
    return int.from_bytes(raw, "big") or None


# -- traces --------------------------------------------------------------------------------------------------

_KINDS: Final = {
    1: SpanKind.INTERNAL, 2: SpanKind.SERVER, 3: SpanKind.CLIENT, 4: SpanKind.PRODUCER, 5: SpanKind.CONSUMER,
}  # fmt: skip


_STATUS_CODES: Final = {0: StatusCode.UNSET, 1: StatusCode.OK, 2: StatusCode.ERROR}
_STATUSES: Final = {StatusCode.UNSET: Status(StatusCode.UNSET), StatusCode.OK: Status(StatusCode.OK)}
_FLAGS: Final = tuple(TraceFlags(flags) for flags in range(256))
_NO_TRACE_STATE: Final = TraceState()


def spans_from_request(request: ExportTraceServiceRequest) -> Decoded[ReadableSpan]:
    """The request's spans, decoded straight into sanitized spans (:class:`~worldforge_otel.boundary.CleanSpan`).

    One pass per span: protobuf fields -> values -> the trust boundary's cleaning -> the span the exporter
    reads; resource and scope are decoded and cleaned once per group, not per span.
    """
    decoded: Decoded[ReadableSpan] = Decoded()
    for service, sdk_resource, sdk_scope, span in _scoped_items(request.resource_spans, "scope_spans", "spans"):
        trace_id, span_id = _id(span.trace_id, 16), _id(span.span_id, 8)
        parent_id = _id(span.parent_span_id, 8)
        if trace_id is None or span_id is None or (span.parent_span_id and parent_id is None):
            decoded.reject("a span's trace_id must be 16 bytes and span_id/parent_span_id 8, not all zero")
            continue
        if not _times_fit(span.start_time_unix_nano, span.end_time_unix_nano,
                          *(event.time_unix_nano for event in span.events)):  # fmt: skip
            decoded.reject(_TIME_REASON.format(item="span"))
            continue
        try:
            decoded.add(service, _span(span, ids=(trace_id, span_id, parent_id), resource=sdk_resource,
                                       scope=sdk_scope))  # fmt: skip
        except Exception as error:  # a value the SDK objects cannot hold
            decoded.reject(f"unreadable span: {error}")
    return decoded


def _span(span: Any, *, ids: tuple[int, int, int | None], resource: Resource, scope: SdkScope) -> ReadableSpan:
    trace_id, span_id, parent_id = ids
    flags = _FLAGS[span.flags & 0xFF]
    state = TraceState.from_header([span.trace_state]) if span.trace_state else _NO_TRACE_STATE
    context = SpanContext(trace_id, span_id, is_remote=False, trace_flags=flags, trace_state=state)
    parent = SpanContext(trace_id, parent_id, is_remote=False, trace_flags=flags) if parent_id else None
    code = _STATUS_CODES.get(span.status.code, StatusCode.UNSET)
    status = Status(code, span.status.message or None) if code is StatusCode.ERROR else _STATUSES[code]
    links = []
    for link in span.links:
        link_trace, link_span = _id(link.trace_id, 16), _id(link.span_id, 8)
        if link_trace is not None and link_span is not None:
            links.append((SpanContext(link_trace, link_span, is_remote=True), clean_attributes_of(link.attributes)))
    return new_clean_span(
        name=span.name,
        context=context,
        parent=parent,
        resource=resource,
        scope=scope,
        attributes=clean_attributes_of(span.attributes),
        events=[(e.name, clean_attributes_of(e.attributes), e.time_unix_nano or None) for e in span.events],
        links=links,
        kind=_KINDS.get(span.kind, SpanKind.INTERNAL),
        status=status,
        start_time=span.start_time_unix_nano or None,
        end_time=span.end_time_unix_nano or None,
    )


# -- metrics -------------------------------------------------------------------------------------------------


def metrics_from_request(request: ExportMetricsServiceRequest) -> Decoded[MetricsData]:
    """The request's metrics as one SDK ``MetricsData`` per resource (rejected counts data points)."""
    decoded: Decoded[MetricsData] = Decoded()
    for resource_metrics in request.resource_metrics:
        service, sdk_resource = resource(resource_metrics.resource)
        scopes = []
        for scope_metrics in resource_metrics.scope_metrics:
            metrics = [m for m in (_metric(metric, decoded) for metric in scope_metrics.metrics) if m is not None]
            scopes.append(ScopeMetrics(scope(scope_metrics.scope), metrics, scope_metrics.schema_url))
        decoded.add(service, MetricsData([ResourceMetrics(sdk_resource, scopes, resource_metrics.schema_url)]))
    return decoded


def _metric(metric: Any, decoded: Decoded[MetricsData]) -> Metric | None:
    kind = metric.WhichOneof("data")
    if kind is None:
        decoded.reject("a metric has no data")
        return None
    source = getattr(metric, kind)
    temporality = getattr(source, "aggregation_temporality", 0)
    if temporality not in _TEMPORALITIES:
        for _ in source.data_points:
            decoded.reject(f"aggregation_temporality {temporality} is not one of 0, 1, 2")
        return None
    data: Sum | Gauge | Histogram
    if kind in ("sum", "gauge"):
        points = [p for p in (_number_point(point, decoded) for point in source.data_points) if p]
        if kind == "sum":
            data = Sum(points, AggregationTemporality(max(temporality, 1)), metric.sum.is_monotonic)
        else:
            data = Gauge(points)
    else:  # histogram, exponential_histogram, summary
        # Only count and sum are drawn (as count/sum/mean), so every distribution becomes a Histogram of them.
        points_h = [p for p in (_count_sum_point(point, decoded) for point in source.data_points) if p]
        data = Histogram(points_h, AggregationTemporality(temporality or 2))
    return Metric(metric.name, metric.description or None, metric.unit or None, data)


_TEMPORALITIES: Final = frozenset({0, 1, 2})


def _number_point(point: Any, decoded: Decoded[MetricsData]) -> NumberDataPoint | None:
    kind = point.WhichOneof("value")
    if kind is None:
        decoded.reject("a number data point has no value")
        return None
    if not _times_fit(point.start_time_unix_nano, point.time_unix_nano):
        decoded.reject(_TIME_REASON.format(item="data point"))
        return None
    return NumberDataPoint(attributes(point.attributes), point.start_time_unix_nano, point.time_unix_nano,
                           getattr(point, kind), exemplars=[])  # fmt: skip


def _count_sum_point(point: Any, decoded: Decoded[MetricsData]) -> HistogramDataPoint | None:
    if not _times_fit(point.start_time_unix_nano, point.time_unix_nano):
        decoded.reject(_TIME_REASON.format(item="data point"))
        return None
    return HistogramDataPoint(
        attributes=attributes(point.attributes), start_time_unix_nano=point.start_time_unix_nano,
        time_unix_nano=point.time_unix_nano, count=point.count, sum=point.sum, bucket_counts=[], explicit_bounds=[],
        min=getattr(point, "min", 0.0), max=getattr(point, "max", 0.0), exemplars=[],
    )  # fmt: skip


# -- logs ----------------------------------------------------------------------------------------------------


def logs_from_request(request: ExportLogsServiceRequest) -> Decoded[ReceivedLog]:
    """The request's log records, shaped like the SDK's ``LogData``."""
    decoded: Decoded[ReceivedLog] = Decoded()
    for service, sdk_resource, sdk_scope, record in _scoped_items(request.resource_logs, "scope_logs", "log_records"):
        if len(record.trace_id) not in (0, 16) or len(record.span_id) not in (0, 8):
            decoded.reject("a log record's trace_id must be 16 bytes and span_id 8 (or both empty)")
            continue
        if not _times_fit(record.time_unix_nano, record.observed_time_unix_nano):
            decoded.reject(_TIME_REASON.format(item="log record"))
            continue
        severity = SeverityNumber(record.severity_number) if 0 < record.severity_number <= 24 else None
        decoded.add(service, ReceivedLog(
            ReceivedLogRecord(
                timestamp=record.time_unix_nano or None, observed_timestamp=record.observed_time_unix_nano or None,
                severity_number=severity, severity_text=record.severity_text or None,
                body=any_value(record.body), attributes=attributes(record.attributes),
                trace_id=int.from_bytes(record.trace_id, "big"), span_id=int.from_bytes(record.span_id, "big"),
                event_name=getattr(record, "event_name", "") or None,  # OTLP >= 1.5
            ),
            sdk_resource, sdk_scope,
        ))  # fmt: skip
    return decoded


SIGNALS: Final[Mapping[str, tuple[type[Any], Any, str]]] = {
    "traces": (ExportTraceServiceRequest, spans_from_request, "spans"),
    "metrics": (ExportMetricsServiceRequest, metrics_from_request, "data_points"),
    "logs": (ExportLogsServiceRequest, logs_from_request, "log_records"),
}
"""Per signal: the request message, its decoder, and the name of its ``partial_success`` rejected field."""


def count_items(items: Sequence[Any]) -> int:
    """How many spans, data points or log records ``items`` holds (a MetricsData counts its points)."""
    total = 0
    for item in items:
        if isinstance(item, MetricsData):
            for resource_metrics in item.resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    total += sum(len(metric.data.data_points) for metric in scope_metrics.metrics)
        else:
            total += 1
    return total


__all__ = [
    "SIGNALS",
    "Decoded",
    "MalformedRequestError",
    "ReceivedLog",
    "ReceivedLogRecord",
    "count_items",
    "from_json_document",
    "logs_from_request",
    "metrics_from_request",
    "parse_json",
    "parse_protobuf",
    "spans_from_request",
    "to_json",
]
