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

import json
from collections.abc import Mapping, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode
from opentelemetry.util.types import AttributeValue

from worldforge_otel import semconv
from worldforge_otel.boundary import clean_spans
from worldforge_otel.rerun.artifacts import add_artifact, add_media, is_artifact
from worldforge_otel.rerun.columns import ColumnBatch
from worldforge_otel.rerun.exporter_core import CoreBackedExporter, ExportCore
from worldforge_otel.rerun.layout import event_level, event_path, service_of, span_path
from worldforge_otel.rerun.options import RerunOptions
from worldforge_otel.rerun.sinks import RerunSink
from worldforge_otel.rerun.waterfall import TraceWaterfall
from worldforge_otel.sanitize import JSONValue, clean_text

_EVENT_FIELDS = {
    semconv.PROVIDER: "provider",
    semconv.OPERATION: "operation",
    semconv.PHASE: "phase",
    semconv.CAPABILITY: "capability",
    semconv.ATTEMPT: "attempt",
    semconv.MAX_ATTEMPTS: "max_attempts",
    semconv.HTTP_REQUEST_METHOD: "method",
    semconv.TARGET: "target",
    semconv.STATUS_CODE: "status_code",
    semconv.DURATION_MS: "duration_ms",
    semconv.MESSAGE: "message",
    semconv.RUN_ID: "run_id",
    semconv.ERROR_TYPE: "error_type",
}


class RerunSpanExporter(CoreBackedExporter, SpanExporter):
    """Writes finished spans into a Rerun recording. Use it behind a ``BatchSpanProcessor``.

    Args:
        sink: A :class:`RerunSink` you own (e.g. shared with other exporters); mutually exclusive with options.
        options: Destinations of the process-wide shared sink; ``None`` fields come from ``OTEL_EXPORTER_RERUN_*``,
            then the defaults (a timestamped ``.rrd`` file). Built with no arguments, as the SDK does.
        waterfall: Also draw every trace as a waterfall under ``otel/traces/`` (see :mod:`.waterfall`).
    """

    def __init__(
        self, *, sink: RerunSink | None = None, options: RerunOptions | None = None, waterfall: bool = True
    ) -> None:
        self._core = ExportCore("spans", sink=sink, options=options)
        self._waterfall = TraceWaterfall() if waterfall else None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Sanitize, translate and write ``spans``; returns FAILURE instead of raising."""
        original = spans

        def translate(batch: ColumnBatch) -> int:
            sink = self._core.sink
            spans = clean_spans(original)  # the trust boundary: only our own spans are taken as they are
            provider_events = [_is_provider_event(span) for span in spans]
            count = sum(provider_events)
            sequence = sink.next_sequence(count) if count else 0
            skipped = 0
            for span, is_provider_event in zip(spans, provider_events, strict=True):
                try:
                    if is_provider_event:
                        add_provider_event(batch, span, sequence=sequence)
                        sequence += 1
                    elif is_artifact(span):
                        add_artifact(batch, span, sink)
                    else:
                        add_generic_span(batch, span)
                    add_media(batch, span)
                except Exception:
                    skipped += 1
            if self._waterfall is not None:
                self._waterfall.add(batch, spans, time_ns=max((s.end_time or 0) for s in spans) if spans else 0)
            return skipped

        ok = self._core.export(len(spans), translate)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

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


def _is_provider_event(span: ReadableSpan) -> bool:
    attributes = span.attributes or {}
    return semconv.PROVIDER in attributes and semconv.PHASE in attributes


def add_provider_event(batch: ColumnBatch, span: ReadableSpan, *, sequence: int) -> None:
    """Add the log line, payload document and duration scalar of one WorldForge provider span."""
    attributes = span.attributes or {}
    payload = provider_event_payload(span)
    base = event_path(str(payload["provider"]), str(payload["operation"]), str(payload["phase"]))
    end_ns = span.end_time or span.start_time or 0
    duration_ms = _duration_ms(span, attributes)
    batch.text_log(
        f"{base}/log",
        _event_line(payload, duration_ms),
        level=event_level(str(payload["phase"])),
        time_ns=end_ns,
        sequence=sequence,
    )
    batch.document(
        f"{base}/payload",
        json.dumps(payload, indent=2, ensure_ascii=False, default=str),
        time_ns=end_ns,
        sequence=sequence,
    )
    if duration_ms is not None:
        batch.scalar(f"{base}/duration_ms", duration_ms, time_ns=end_ns, sequence=sequence)


def add_generic_span(batch: ColumnBatch, span: ReadableSpan) -> None:
    """Add the log line (with the trace and span ids, to find it in any trace backend) and duration scalar."""
    service = service_of(span.resource)
    name = clean_text(span.name or "unnamed", max_chars=256)
    base = span_path(service, name)
    end_ns = span.end_time or span.start_time or 0
    duration_ms = _duration_ms(span, {})
    failed = span.status.status_code is StatusCode.ERROR
    text = name if duration_ms is None else f"{name} · {duration_ms:.2f} ms"
    if failed:
        text += f" · ERROR {clean_text(span.status.description or '', max_chars=512)}".rstrip()
    context = span.get_span_context()
    if context is not None and context.trace_id:
        text += f" · trace={context.trace_id:032x} span={context.span_id:016x}"
    batch.text_log(f"{base}/log", text, level="ERROR" if failed else "INFO", time_ns=end_ns)
    if duration_ms is not None:
        batch.scalar(f"{base}/duration_ms", duration_ms, time_ns=end_ns)


def provider_event_payload(span: ReadableSpan) -> dict[str, JSONValue]:
    """The event document of a provider span (a span already through the trust boundary: clean)."""
    attributes: Mapping[str, AttributeValue] = span.attributes or {}
    payload: dict[str, object] = {name: attributes.get(key) for key, name in _EVENT_FIELDS.items()}
    payload["metadata"] = {
        key[len(semconv.METADATA_PREFIX) :]: value
        for key, value in attributes.items()
        if key.startswith(semconv.METADATA_PREFIX)
    }
    context = span.get_span_context()
    if context is not None:
        payload["trace_id"] = f"{context.trace_id:032x}"
        payload["span_id"] = f"{context.span_id:016x}"
    if span.parent is not None:
        payload["parent_span_id"] = f"{span.parent.span_id:016x}"
    payload["span_name"] = span.name
    return payload  # type: ignore[return-value]  # attribute values: str, bool, int, float and tuples of them


def _duration_ms(span: ReadableSpan, attributes: Mapping[str, AttributeValue]) -> float | None:
    declared = attributes.get(semconv.DURATION_MS)
    if isinstance(declared, int | float) and not isinstance(declared, bool):
        return float(declared)
    if span.start_time is None or span.end_time is None:
        return None
    return max(0, span.end_time - span.start_time) / 1_000_000


def _event_line(payload: Mapping[str, JSONValue], duration_ms: float | None) -> str:
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
