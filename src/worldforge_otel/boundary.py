"""The trust boundary: spans, log records and metric points are sanitized here, once, before they leave.

Spans that this package's own tracers made (the provider-event handler, the artifact recorder) are clean
when created; they are recognised by the *identity* of their instrumentation scope object, which only this
process can hold (:func:`trust_scope`). A scope *name* is never trusted: a span from anywhere else (the host's
own tracers, OTLP arriving at ``worldforge-otel receive``) is cleaned by :func:`clean_spans` whatever it is
called: its name, attributes (secret-named keys redacted, artifact payloads re-sanitized), event names and
attributes, link attributes, status text, resource and scope. Log records (body, attributes, exception text)
and metric points (attribute keys and values) get the same treatment. This runs on exporter threads, never
on a host thread. Numbers are left untouched.

The Rerun exporters call these functions on their input; :class:`SanitizingSpanExporter`,
:class:`SanitizingMetricExporter` and :class:`SanitizingLogExporter` wrap any other exporter (the OTLP ones
``configure()`` adds), so what leaves over OTLP is cleaned the same way.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, TypeVar

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode

from worldforge_otel import semconv
from worldforge_otel._fork import ForkSafeLock
from worldforge_otel.sanitize import (
    DEFAULT_MAX_STRING_CHARS,
    REDACTED,
    clean_key,
    clean_text,
    clean_text_once,
    is_secret_key,
    sanitize_value,
)

_LOG = logging.getLogger(__name__)
MAX_NAME_CHARS: Final = 256
MAX_PAYLOAD_CHARS: Final = 262_144

_UNSET: Final = Status(StatusCode.UNSET)
_BASE64_IMAGE: Final = re.compile(r"data:image/(?:png|jpeg);base64,[A-Za-z0-9+/]*={0,2}")

_TRUSTED_SCOPES: dict[int, InstrumentationScope] = {}  # id -> the object (kept alive, so the id stays its own)
_TRUSTED_LOCK = ForkSafeLock()


def trust_scope(scope: InstrumentationScope | None) -> None:
    """Mark the scope object of one of this package's own tracers: its spans were sanitized when made."""
    if scope is not None and id(scope) not in _TRUSTED_SCOPES:
        with _TRUSTED_LOCK:
            _TRUSTED_SCOPES[id(scope)] = scope


def is_trusted(span: ReadableSpan) -> bool:
    """Whether ``span`` was made by this package's own tracers in this process (by object identity)."""
    scope = span.instrumentation_scope
    return scope is not None and _TRUSTED_SCOPES.get(id(scope)) is scope


# -- values ---------------------------------------------------------------------------------------------------


def clean_attribute_value(key: str, value: Any) -> Any:
    """One OTel attribute value, cleaned for its (already cleaned) ``key``."""
    return REDACTED if is_secret_key(key) else _clean_value(key, value)


def _clean_value(key: str, value: Any) -> Any:  # noqa: PLR0911  # one return per kind of value
    if isinstance(value, str):
        if key == semconv.ARTIFACT_PAYLOAD:
            return _clean_payload(value)
        if key == semconv.IMAGE_DATA and _BASE64_IMAGE.fullmatch(value):
            return value  # image bytes, not text: kept whole (redacting inside base64 would only break it)
        return clean_text(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    if isinstance(value, Sequence):
        return tuple(clean_text(item) if isinstance(item, str) else item for item in value)
    cleaned = sanitize_value(value)
    if isinstance(cleaned, str | int | float | bool):
        return cleaned
    return json.dumps(cleaned, ensure_ascii=False, separators=(",", ":"))  # a map: its JSON text, once


class CleanAttributes(dict[str, Any]):
    """Attributes this module cleaned (only it makes them): :func:`clean_attributes` takes them as they are."""


def attribute_dict(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """A plain dict copy of span, event or link attributes.

    The SDK hands them out as a ``MappingProxyType`` over its ``BoundedAttributes``, whose mapping protocol is
    Python code (about 2 µs to copy 9 attributes); their public ``copy()`` is C's ``dict.copy`` (0.13 µs).
    """
    if type(attributes) in _COPIED_IN_C:  # asking the SDK's proxy if it is empty would be Python code, too
        try:
            copied = attributes.copy()  # type: ignore[union-attr]  # a proxy's copy() is its mapping's
        except Exception:  # a proxy over a mapping without a working copy(): the protocol below
            copied = None
        if type(copied) is dict:
            return copied
    return {**attributes} if attributes else {}


_COPIED_IN_C: Final = frozenset({dict, CleanAttributes, MappingProxyType, BoundedAttributes})


def clean_attributes(attributes: Mapping[str, Any] | None) -> CleanAttributes:
    """Attributes with clean keys and values (secret-named keys keep their name, their value is redacted)."""
    if type(attributes) is CleanAttributes:
        return attributes
    cleaned = CleanAttributes()
    for key, value in (attributes if type(attributes) is dict else attribute_dict(attributes)).items():
        known = _KEYS.get(key) if type(key) is str else None
        name, kind = known if known is not None else _clean_key(key)
        cleaned[name] = REDACTED if kind is _SECRET else _clean_value(name, value)
    return cleaned


def clean_pairs(pairs: Iterable[Any], value_of: Callable[[Any], Any]) -> CleanAttributes:
    """Key-value messages (OTLP ``KeyValue``: ``.key``, ``.value``) read and cleaned in one pass.

    ``value_of`` turns a ``.value`` into an attribute value (``None``: the pair is left out). Plain strings,
    most values, go through a cache of short strings already cleaned.
    """
    cleaned = CleanAttributes()
    keys, strings = _KEYS, _STRINGS
    for pair in pairs:
        key = pair.key
        known = keys.get(key)
        name, kind = known if known is not None else _clean_key(key)
        if kind is _SECRET:
            cleaned[name] = REDACTED
            continue
        value = value_of(pair.value)
        if type(value) is str and kind is _PLAIN:
            text = strings.get(value)
            if text is None:
                text = clean_text_once(value)  # remembered here when short, not in clean_text's cache too
                if len(value) <= _MAX_CACHED_STRING_CHARS:
                    if len(strings) >= _MAX_STRINGS:
                        strings.clear()
                    strings[value] = text
            cleaned[name] = text
        elif type(value) in _NUMBER_TYPES:  # what _clean_value would keep as it is, without its checks
            cleaned[name] = value
        elif value is not None:
            cleaned[name] = _clean_value(name, value)
    return cleaned


_NUMBER_TYPES: Final = frozenset({int, float, bool})
_PLAIN, _SECRET, _SPECIAL = "plain", "secret", "special"  # how a key's values are cleaned
_SPECIAL_KEYS: Final = frozenset({semconv.ARTIFACT_PAYLOAD, semconv.IMAGE_DATA})
_KEYS: dict[str, tuple[str, str]] = {}  # key as sent -> (as cleaned, how its values are cleaned); keys repeat
_MAX_KEYS: Final = 4096
_STRINGS: dict[str, str] = {}  # short attribute values as sent -> cleaned (values repeat: methods, routes, hosts)
_MAX_STRINGS: Final = 16384
_MAX_CACHED_STRING_CHARS: Final = 256


def _clean_key(key: object) -> tuple[str, str]:
    name = clean_key(key)
    kind = _SECRET if is_secret_key(name) else _SPECIAL if name in _SPECIAL_KEYS else _PLAIN
    if type(key) is str:
        if len(_KEYS) >= _MAX_KEYS:
            _KEYS.clear()
        _KEYS[key] = (name, kind)
    return name, kind


def _clean_payload(text: str) -> str:
    """An artifact's JSON payload: parsed, sanitized as data, written again (text that is not JSON: as text)."""
    try:
        document = json.loads(text[:MAX_PAYLOAD_CHARS])
    except ValueError:
        return clean_text(text, max_chars=DEFAULT_MAX_STRING_CHARS)
    return json.dumps(sanitize_value(document), ensure_ascii=False, separators=(",", ":"))


_T = TypeVar("_T")
_CLEANED: dict[int, tuple[object, object]] = {}  # id -> (the original, its clean copy): resources and scopes
_MAX_CACHED: Final = 512


def _cached_clean(original: _T, clean: Callable[[_T], _T]) -> _T:
    """``clean(original)``, remembered per object (providers share one resource and a few scopes)."""
    cached = _CLEANED.get(id(original))
    if cached is not None and cached[0] is original:
        return cached[1]  # type: ignore[return-value]  # stored by this function for this very object
    cleaned = clean(original)
    if len(_CLEANED) >= _MAX_CACHED:
        _CLEANED.clear()
    _CLEANED[id(original)] = (original, cleaned)
    return cleaned


def clean_resource(resource: Resource | None) -> Resource:
    """The resource with clean attributes."""
    if resource is None:
        return Resource.get_empty()
    return _cached_clean(resource, lambda r: Resource(clean_attributes(r.attributes), r.schema_url))


def clean_scope(scope: InstrumentationScope | None) -> InstrumentationScope | None:
    """The instrumentation scope with a clean name and version."""
    if scope is None:
        return None
    return _cached_clean(scope, lambda s: InstrumentationScope(
        clean_text(s.name or "", max_chars=MAX_NAME_CHARS),
        clean_text(s.version, max_chars=MAX_NAME_CHARS) if s.version else None,
        s.schema_url,
    ))  # fmt: skip


# -- spans ----------------------------------------------------------------------------------------------------


class CleanSpan(ReadableSpan):
    """A span every field of which went through this module: exporters take it as it is.

    Only :func:`clean_span` and :func:`new_clean_span` make them (``worldforge-otel receive`` decodes OTLP
    straight into them), so being one is a fact about this process, not something a sender can claim.
    """


def new_clean_span(
    *,
    name: str,
    context: SpanContext,
    parent: SpanContext | None,
    resource: Resource,
    scope: InstrumentationScope | None,
    attributes: Mapping[str, Any] | None,
    events: Sequence[tuple[str, Mapping[str, Any] | None, int | None]] = (),
    links: Sequence[tuple[SpanContext, Mapping[str, Any] | None]] = (),
    kind: SpanKind = SpanKind.INTERNAL,
    status: Status = _UNSET,
    start_time: int | None = None,
    end_time: int | None = None,
) -> CleanSpan:
    """A span of these parts, sanitized: name, attributes, events, links, status text; resource and scope.

    ``resource`` and ``scope`` are cleaned once per object (callers pass one object for a whole group of spans).
    """
    if status.status_code is StatusCode.ERROR and status.description:
        status = Status(StatusCode.ERROR, clean_text(status.description, max_chars=1024))
    return CleanSpan(
        name=clean_text(name or "", max_chars=MAX_NAME_CHARS),
        context=context,
        parent=parent,
        resource=clean_resource(resource),
        attributes=clean_attributes(attributes),
        events=[_clean_event(*event) for event in events] if events else (),
        links=[Link(link_context, clean_attributes(link_attributes)) for link_context, link_attributes in links]
        if links else (),
        kind=kind,
        status=status,
        start_time=start_time,
        end_time=end_time,
        instrumentation_scope=clean_scope(scope),
    )


def clean_span(span: ReadableSpan) -> CleanSpan:
    """A sanitized copy of a span that did not come from this package's own tracers (:func:`new_clean_span`).

    Each of the SDK's copying properties is read once; spans without events or links build no lists.
    """
    events, links = span.events, span.links
    return new_clean_span(
        name=span.name,
        context=span.get_span_context(),  # type: ignore[arg-type]  # the SDK's spans always have one
        parent=span.parent,
        resource=span.resource,
        scope=span.instrumentation_scope,
        attributes=span.attributes,
        events=[(event.name, event.attributes, event.timestamp) for event in events] if events else (),
        links=[(link.context, link.attributes) for link in links] if links else (),
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
    )


def _clean_event(name: str, attributes: Mapping[str, Any] | None, timestamp: int | None) -> Event:
    return Event(clean_text(name or "", max_chars=MAX_NAME_CHARS), clean_attributes(attributes), timestamp)


def clean_spans(spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    """Every span clean: our own and already cleaned ones as they are, every other one through :func:`clean_span`."""
    return [span if type(span) is CleanSpan or is_trusted(span) else clean_span(span) for span in spans]


# -- logs -----------------------------------------------------------------------------------------------------


def clean_log_body(body: Any) -> Any:
    """A log record's body: text redacted, structured bodies sanitized as data."""
    if isinstance(body, str):
        return clean_text(body, max_chars=DEFAULT_MAX_STRING_CHARS * 2)
    if body is None or isinstance(body, bool | int | float):
        return body
    return sanitize_value(body)


def clean_log(item: Any) -> Any:
    """A sanitized copy of an SDK log item (``ReadableLogRecord``, ``LogData`` or a look-alike)."""
    record = copy.copy(item.log_record)
    _set(record, "body", clean_log_body(getattr(record, "body", None)))
    _set(record, "attributes", clean_attributes(getattr(record, "attributes", None)))
    event_name = getattr(record, "event_name", None)
    if isinstance(event_name, str) and event_name:
        _set(record, "event_name", clean_text(event_name, max_chars=MAX_NAME_CHARS))
    cleaned = copy.copy(item)
    _set(cleaned, "log_record", record)
    if getattr(item, "resource", None) is not None:
        _set(cleaned, "resource", clean_resource(item.resource))
    if getattr(item, "instrumentation_scope", None) is not None:
        _set(cleaned, "instrumentation_scope", clean_scope(item.instrumentation_scope))
    return cleaned


def _set(target: object, name: str, value: object) -> None:
    """Set a field of a copy, frozen dataclasses included (the SDK's log classes differ between versions)."""
    try:
        setattr(target, name, value)
    except (AttributeError, dataclasses.FrozenInstanceError):
        object.__setattr__(target, name, value)


# -- metrics --------------------------------------------------------------------------------------------------


def clean_metrics(metrics_data: MetricsData) -> MetricsData:
    """``metrics_data`` with clean resource, scope, metric names and data-point attributes."""
    return MetricsData(resource_metrics=[
        dataclasses.replace(
            resource_metrics,
            resource=clean_resource(resource_metrics.resource),
            scope_metrics=[
                dataclasses.replace(
                    scope_metrics,
                    scope=clean_scope(scope_metrics.scope) or scope_metrics.scope,
                    metrics=[_clean_metric(metric) for metric in scope_metrics.metrics],
                )
                for scope_metrics in resource_metrics.scope_metrics
            ],
        )
        for resource_metrics in metrics_data.resource_metrics
    ])  # fmt: skip


def _clean_metric(metric: Any) -> Any:
    points = [dataclasses.replace(point, attributes=clean_attributes(point.attributes))
              for point in metric.data.data_points]  # fmt: skip
    return dataclasses.replace(
        metric,
        name=clean_text(metric.name, max_chars=MAX_NAME_CHARS),
        description=clean_text(metric.description, max_chars=1024) if metric.description else metric.description,
        data=dataclasses.replace(metric.data, data_points=points),
    )


# -- wrappers for exporters that are not ours (OTLP) --------------------------------------------------------


class SanitizingSpanExporter(SpanExporter):
    """Hands the wrapped exporter clean spans; a failure to clean is a FAILURE, never an exception."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Clean ``spans`` and export them with the wrapped exporter."""
        try:
            cleaned = clean_spans(spans)
        except Exception:
            _LOG.exception("worldforge_otel: could not sanitize spans; they were not exported")
            return SpanExportResult.FAILURE
        return self.exporter.export(cleaned)

    def shutdown(self) -> None:
        """Shut the wrapped exporter down."""
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Flush the wrapped exporter."""
        return self.exporter.force_flush(timeout_millis)


class SanitizingMetricExporter(MetricExporter):
    """Hands the wrapped exporter clean metric points (same temporality and aggregation preferences)."""

    def __init__(self, exporter: MetricExporter) -> None:
        super().__init__(
            preferred_temporality=exporter._preferred_temporality,  # the reader reads them from its exporter
            preferred_aggregation=exporter._preferred_aggregation,
        )
        self.exporter = exporter

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        """Clean ``metrics_data`` and export it with the wrapped exporter."""
        try:
            cleaned = clean_metrics(metrics_data)
        except Exception:
            _LOG.exception("worldforge_otel: could not sanitize metrics; they were not exported")
            return MetricExportResult.FAILURE
        return self.exporter.export(cleaned, timeout_millis=timeout_millis, **kwargs)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Flush the wrapped exporter."""
        return self.exporter.force_flush(timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Shut the wrapped exporter down."""
        self.exporter.shutdown(timeout_millis=timeout_millis, **kwargs)


class SanitizingLogExporter:
    """Hands the wrapped log exporter clean records (duck-typed: the SDK's log exporter base moved in 1.39)."""

    def __init__(self, exporter: Any) -> None:
        self.exporter = exporter

    def export(self, batch: Sequence[Any]) -> Any:
        """Clean the records and export them with the wrapped exporter."""
        try:
            cleaned = [clean_log(item) for item in batch]
        except Exception:
            _LOG.exception("worldforge_otel: could not sanitize log records; they were not exported")
            from opentelemetry.sdk._logs.export import LogRecordExportResult

            return LogRecordExportResult.FAILURE
        return self.exporter.export(cleaned)

    def shutdown(self) -> None:
        """Shut the wrapped exporter down."""
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Flush the wrapped exporter."""
        return bool(self.exporter.force_flush(timeout_millis))
