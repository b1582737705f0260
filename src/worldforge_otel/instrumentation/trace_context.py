"""Parent context and run id carried in a ProviderEvent's metadata."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from worldforge_otel import semconv

_PROPAGATOR = TraceContextTextMapPropagator()


def parent_context(metadata: Mapping[str, object]) -> Context | None:
    """A remote parent from W3C ``traceparent`` or hex ``trace_id``/``span_id`` metadata; else ``None``.

    ``None`` means: use the current context (the host's active span, if any).
    """
    if not metadata:
        return None
    traceparent = metadata.get(semconv.TRACEPARENT_KEY)
    if isinstance(traceparent, str):
        context = _PROPAGATOR.extract({"traceparent": traceparent})
        if trace.get_current_span(context).get_span_context().is_valid:
            return context
    trace_id = _hex_id(metadata, semconv.TRACE_ID_KEYS, 32)
    span_id = _hex_id(metadata, semconv.SPAN_ID_KEYS, 16)
    if trace_id and span_id:
        span_context = SpanContext(
            trace_id=trace_id, span_id=span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
        )
        return trace.set_span_in_context(NonRecordingSpan(span_context))
    return None


def run_id(metadata: Mapping[str, object]) -> str | None:
    """The run id the host put in the metadata, if any."""
    if not metadata:
        return None
    for key in semconv.RUN_ID_KEYS:
        value = metadata.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


def _hex_id(metadata: Mapping[str, object], keys: tuple[str, ...], width: int) -> int:
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, str) and len(value) == width:
            try:
                number = int(value, 16)
            except ValueError:
                continue
            if number:
                return number
    return 0
