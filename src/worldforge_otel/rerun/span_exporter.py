"""``RerunSpanExporter``: OTel spans -> Rerun TextLog, TextDocument and Scalars, written in columns.

Usage::

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from worldforge_otel.rerun import RerunOptions, RerunSpanExporter

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(RerunSpanExporter(options=RerunOptions(save_path="run.rrd"))))

WorldForge provider spans (those with ``worldforge.provider`` and ``worldforge.phase`` attributes) land on
``worldforge/events/<provider>/<operation>/<phase>/{log,payload,duration_ms}`` on the ``worldforge_event``
and ``worldforge_time`` timelines; every other span on ``otel/spans/<service>/<name>/{log,duration_ms}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util.types import AttributeValue

from worldforge_otel import semconv
from worldforge_otel.boundary import attribute_dict, clean_spans
from worldforge_otel.events import EVENT_ATTRIBUTES, EVENT_FIELDS
from worldforge_otel.rerun.artifacts import add_artifact, add_media
from worldforge_otel.rerun.cardinality import (
    DEFAULT_MAX_ATTRIBUTE_NAMES,
    DEFAULT_MAX_SPAN_NAMES,
    OVERFLOW,
    NameBudget,
    add_overflow_count,
)
from worldforge_otel.rerun.columns import ColumnBatch, ColumnGroup, ColumnKind
from worldforge_otel.rerun.documents import to_json_document, to_json_text
from worldforge_otel.rerun.exporter_core import CoreBackedExporter, ExportCore
from worldforge_otel.rerun.lanes import PHASE_STATES, Transition, add_lanes, lane_path
from worldforge_otel.rerun.layout import (
    EVENT_TIMELINE,
    event_level,
    event_path,
    path_part,
    service_of,
    span_path,
)
from worldforge_otel.rerun.options import RerunOptions
from worldforge_otel.rerun.sinks import RerunSink
from worldforge_otel.rerun.waterfall import TraceWaterfall
from worldforge_otel.sanitize import truncate

# span attribute -> payload field: the ProviderEvent's fields (events.EVENT_ATTRIBUTES) plus what the handler adds
_PAYLOAD_FIELDS: Final = {
    **{key: name for name, key in EVENT_ATTRIBUTES.items() if name != "metadata"},
    semconv.URL_FULL: "target",
    semconv.STATUS_CODE: "status_code",  # as earlier versions of this package wrote it (OTLP from older senders)
    semconv.CAPABILITY: "capability",
    semconv.RUN_ID: "run_id",
    semconv.ERROR_TYPE: "error_type",
}
_PAYLOAD_ORDER: Final = (*EVENT_FIELDS, "capability", "run_id", "error_type")


class RerunSpanExporter(CoreBackedExporter, SpanExporter):
    """Writes finished spans into a Rerun recording. Use it behind a ``BatchSpanProcessor``.

    Args:
        sink: A :class:`RerunSink` you own (e.g. shared with other exporters); mutually exclusive with options.
        options: Destinations of the process-wide shared sink; ``None`` fields come from ``OTEL_EXPORTER_RERUN_*``,
            then the defaults (a timestamped ``.rrd`` file). Built with no arguments, as the SDK does.
        waterfall: Also draw every trace as a waterfall under ``otel/traces/`` (see :mod:`.waterfall`).
        lanes: Also put every span on a lane of its service and name under ``otel/lanes/`` (see :mod:`.lanes`;
            rerun-sdk >= 0.32).
    """

    def __init__(
        self,
        *,
        sink: RerunSink | None = None,
        options: RerunOptions | None = None,
        waterfall: bool = True,
        lanes: bool = True,
    ) -> None:
        self._core = ExportCore("spans", sink=sink, options=options)
        self._waterfall = TraceWaterfall() if waterfall else None
        self._lanes = lanes
        self._span_names = NameBudget("span names", DEFAULT_MAX_SPAN_NAMES)
        self._attribute_names = NameBudget("span attribute names", DEFAULT_MAX_ATTRIBUTE_NAMES, hint="",
                                           overflow_does=f"share the {MORE_ATTRIBUTES} component")  # fmt: skip

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Sanitize, translate and write ``spans``; returns FAILURE instead of raising."""

        def translate(batch: ColumnBatch) -> int:
            clean = clean_spans(spans)  # the trust boundary: only our own spans are taken as they are
            skipped = 0
            provider_events: list[tuple[ReadableSpan, dict[str, AttributeValue]]] = []
            generic: list[ReadableSpan] = []
            for span in clean:
                try:
                    attributes = attribute_dict(span.attributes)  # read once
                    if semconv.PROVIDER in attributes and semconv.PHASE in attributes:
                        provider_events.append((span, attributes))
                    elif semconv.ARTIFACT_KIND in attributes:
                        add_artifact(batch, span, self._core.sink)
                    else:
                        generic.append(span)
                    add_media(batch, span, attributes, span.events)
                except Exception:
                    skipped += 1
            with_lanes = self._lanes and self._core.sink.supports_lanes
            lanes: list[Transition] | None = [] if with_lanes else None
            skipped += add_generic_spans(batch, generic, self._span_names, self._attribute_names, lanes=lanes)
            if provider_events:
                first = self._core.sink.next_sequence(len(provider_events))
                skipped += add_provider_events(batch, provider_events, first, lanes=lanes)
            if lanes is not None:
                add_lanes(batch, lanes)
            if self._waterfall is not None:
                self._waterfall.add(batch, clean)
            self._write_bounds(batch)
            return skipped

        ok = self._core.export(len(spans), translate)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def _write_bounds(self, batch: ColumnBatch) -> None:
        """What the cardinality bounds turned away so far, next to the exporter's other health scalars."""
        add_overflow_count(batch, "span_names_overflowed", self._span_names.overflowed)
        add_overflow_count(batch, self._attribute_names.counter, self._attribute_names.overflowed)
        if self._waterfall is not None:
            add_overflow_count(batch, "traces_not_drawn", self._waterfall.not_drawn)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush written data to the destinations within ``timeout_millis``."""
        return self._core.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float | None = None) -> None:
        """Stop exporting and close the shared sink when this was its last user; idempotent."""
        self._core.shutdown(timeout_millis)

    @property
    def spans_exported(self) -> int:
        """Spans written so far."""
        return self._core.exported

    @property
    def spans_dropped(self) -> int:
        """Spans that could not be written (bad data, failed writes, after shutdown)."""
        return self._core.dropped


def add_provider_events(
    batch: ColumnBatch,
    events: list[tuple[ReadableSpan, dict[str, AttributeValue]]],
    first_sequence: int,
    *,
    lanes: list[Transition] | None = None,
) -> int:
    """Add the log line, payload document and duration scalar of WorldForge provider spans; returns spans skipped.

    One pass over the batch: rows go straight into the column group of their entity path, path strings are
    built once per (provider, operation, phase), and payloads are encoded with orjson. With ``lanes``, each
    span's lane transition is appended (its lane path built once per resource and span name).
    """
    skipped = 0
    paths: dict[tuple[str, str, str], tuple[ColumnGroup, ColumnGroup, ColumnGroup]] = {}
    lane_paths: dict[tuple[int, str], str] = {}
    for sequence, (span, attributes) in enumerate(events, first_sequence):
        try:
            payload = provider_event_payload(span, attributes)
            key = (str(payload["provider"]), str(payload["operation"]), str(payload["phase"]))
            groups = paths.get(key)
            if groups is None:
                base = event_path(*key)
                groups = paths[key] = (
                    batch.group(f"{base}/log", ColumnKind.TEXT_LOG, EVENT_TIMELINE),
                    batch.group(f"{base}/payload", ColumnKind.DOCUMENT, EVENT_TIMELINE),
                    batch.group(f"{base}/duration_ms", ColumnKind.SCALAR, EVENT_TIMELINE),
                )
            log, document, duration = groups
            end_ns = span.end_time or span.start_time or 0
            duration_ms = _duration_ms(span, attributes)
            log.add(end_ns, sequence, _event_line(payload, duration_ms), event_level(key[2]))
            document.add(end_ns, sequence, to_json_document(payload))
            if duration_ms is not None:
                duration.add(end_ns, sequence, duration_ms)
            if lanes is not None:
                name = span.name or "unnamed"
                lane = lane_paths.get((id(span.resource), name))
                if lane is None:
                    lane = lane_paths[(id(span.resource), name)] = lane_path(service_of(span.resource), path_part(name))
                state = PHASE_STATES.get(key[2], "ok")
                lanes.append((lane, span.start_time, span.end_time, state))
        except Exception:
            skipped += 1
    return skipped



def add_generic_spans(
    batch: ColumnBatch,
    spans: Sequence[ReadableSpan],
    names: NameBudget | None = None,
    attribute_names: NameBudget | None = None,
    *,
    lanes: list[Transition] | None = None,
) -> int:
    """Add each span's log line (with the trace and span ids, to find it in any trace backend) and duration scalar.

    Columnar, as :func:`add_provider_events`: the column groups of each (service, span name) are looked up once
    per batch. With ``names``, a service's span names beyond its budget share the ``_other`` path (the line keeps
    the name). Each row also carries the span's attributes, kind, parent, status text and events as components
    of the log entity (:func:`span_columns`), so selecting a line shows them; the resource (JSON,
    ``otel.resource``) is written with the first row of each entity in a batch. With ``lanes``, each span is
    appended with its lane's path (the same bounded name; names past the budget get no lane). Returns the
    spans skipped.
    """
    skipped = 0
    parts: dict[tuple[int, str], tuple[str, str]] = {}  # (resource, name) -> (service, path part)
    groups: dict[tuple[str, str], tuple[ColumnGroup, ColumnGroup, str]] = {}  # -> log, duration, budget scope
    for span in spans:
        try:
            name = span.name or "unnamed"  # clean: through the trust boundary
            resource = span.resource
            known = parts.get((id(resource), name))
            if known is None:
                known = parts[(id(resource), name)] = (service_of(resource), path_part(name))
            service, part = known
            admitted = names.admit(service, part) if names is not None else part
            pair = groups.get((service, admitted))
            if pair is None:
                base = span_path(service, admitted)
                pair = (batch.group(f"{base}/log", ColumnKind.TEXT_LOG),
                        batch.group(f"{base}/duration_ms", ColumnKind.SCALAR), f"{service}/{admitted}")  # fmt: skip
                groups[(service, admitted)] = pair
            log, duration, scope = pair
            start_ns, end_ns = span.start_time, span.end_time
            duration_ms = _elapsed_ms(start_ns, end_ns)
            end_ns = end_ns or start_ns or 0
            failed = span.status.status_code is StatusCode.ERROR
            text = name if duration_ms is None else f"{name} · {duration_ms:.2f} ms"
            if failed:
                text += f" · ERROR {truncate(span.status.description or '', 512)}".rstrip()
            context = span.get_span_context()
            if context is not None and context.trace_id:
                text += f" · trace={context.trace_id:032x} span={context.span_id:016x}"
            log.add(end_ns, None, text, "ERROR" if failed else "INFO")
            columns = span_columns(span, scope, attribute_names)
            if len(log.times_ns) == 1:  # once per entity and batch: a selected row shows it (latest at its time)
                columns[RESOURCE] = to_json_text(dict(getattr(resource, "attributes", None) or {}))
            log.add_attributes(columns)
            if duration_ms is not None:
                duration.add(end_ns, None, duration_ms)
            if lanes is not None and admitted != OVERFLOW:  # names past the budget share no lane: it would mean nothing
                lanes.append((lane_path(service, admitted), start_ns, span.end_time,
                              "error" if failed else "ok"))  # fmt: skip
        except Exception:
            skipped += 1
    return skipped


_KIND_NAMES: Final = {kind: kind.name for kind in SpanKind}  # Enum.name is a descriptor call: read once
MORE_ATTRIBUTES: Final = "otel.more_attributes"
RESOURCE: Final = "otel.resource"
_CELL_TYPES: Final = frozenset({str, bool, int, float})


def span_columns(span: ReadableSpan, scope: str, attribute_names: NameBudget | None = None) -> dict[str, object]:
    """The span's attributes (already clean) and its ``otel.*`` facts, as components of its log row.

    Text, numbers and booleans stay as they are; sequences become JSON text. With ``attribute_names``, an entity's
    attribute names beyond its budget go together into ``otel.more_attributes`` (JSON), so a sender cannot grow
    an entity's components without bound.
    """
    columns: dict[str, object] = {"otel.span_kind": _KIND_NAMES[span.kind]}
    more: dict[str, object] = {}
    known = attribute_names.known(scope) if attribute_names is not None else None
    for key, value in (span.attributes or {}).items():
        if known is not None and key not in known and attribute_names.admit(scope, key) == OVERFLOW:  # type: ignore[union-attr]
            more[key] = value
        else:
            columns[key] = value if type(value) in _CELL_TYPES else to_json_text(value)
    if more:
        columns[MORE_ATTRIBUTES] = to_json_text(more)
    if span.parent is not None:
        columns["otel.parent_span_id"] = f"{span.parent.span_id:016x}"
    if span.status.description:
        columns["otel.status_description"] = span.status.description
    events = span.events  # the SDK copies them at each read
    if events:
        columns["otel.events"] = to_json_text([{"name": event.name, "time_unix_nano": event.timestamp,
                                                "attributes": attribute_dict(event.attributes)}
                                               for event in events])  # fmt: skip
    return columns


def provider_event_payload(span: ReadableSpan, attributes: Mapping[str, AttributeValue]) -> dict[str, object]:
    """The event document of a provider span (already through the trust boundary): fields, metadata, ids.

    ``worldforge.metadata.a.b`` attributes are nested again as ``{"a": {"b": ...}}``.
    """
    payload: dict[str, object] = dict.fromkeys(_PAYLOAD_ORDER)
    metadata: dict[str, object] = {}
    for key, value in attributes.items():
        name = _PAYLOAD_FIELDS.get(key)
        if name is not None:
            payload[name] = value
        elif key.startswith(semconv.METADATA_PREFIX):
            _nest(metadata, key[len(semconv.METADATA_PREFIX) :], value)
    payload["metadata"] = metadata
    context = span.get_span_context()
    if context is not None:
        payload["trace_id"] = f"{context.trace_id:032x}"
        payload["span_id"] = f"{context.span_id:016x}"
    if span.parent is not None:
        payload["parent_span_id"] = f"{span.parent.span_id:016x}"
    payload["span_name"] = span.name
    return payload


def _nest(metadata: dict[str, object], dotted: str, value: object) -> None:
    *parents, leaf = dotted.split(".")
    level = metadata
    for part in parents:
        child = level.get(part)
        if not isinstance(child, dict):
            child = level[part] = {} if child is None else {"": child}
        level = child
    level[leaf] = value


def _duration_ms(span: ReadableSpan, attributes: Mapping[str, AttributeValue]) -> float | None:
    declared = attributes.get(semconv.DURATION_MS)
    if isinstance(declared, int | float) and not isinstance(declared, bool):
        return float(declared)
    return _elapsed_ms(span.start_time, span.end_time)


def _elapsed_ms(start_ns: int | None, end_ns: int | None) -> float | None:
    if start_ns is None or end_ns is None:
        return None
    return max(0, end_ns - start_ns) / 1_000_000


def _event_line(payload: Mapping[str, object], duration_ms: float | None) -> str:
    parts = [f"{str(payload['phase']).upper()} {payload['provider']}.{payload['operation']}"]
    parts.append(f"attempt {payload.get('attempt') or 1}/{payload.get('max_attempts') or 1}")
    if duration_ms is not None:
        parts.append(f"{duration_ms:.2f} ms")
    if payload.get("method") or payload.get("status_code"):
        parts.append(" ".join(str(payload[key]) for key in ("method", "status_code") if payload.get(key)))
    if payload.get("target"):
        parts.append(str(payload["target"]))
    line = " · ".join(parts)
    message = payload.get("message")
    return f"{line} — {message}" if message else line
