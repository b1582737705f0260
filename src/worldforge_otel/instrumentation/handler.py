"""``ProviderEventHandler``: the ``WorldForge(event_handler=...)`` hook that turns events into spans and metrics."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider, get_tracer_provider

from worldforge_otel import semconv
from worldforge_otel._fork import ForkSafeLock
from worldforge_otel._suppress import suppressed
from worldforge_otel._throttled_log import ThrottledLog
from worldforge_otel.boundary import trust_scope
from worldforge_otel.events import EventRecord, Snapshot, snapshot
from worldforge_otel.instrumentation.attribute_limits import limiter_for
from worldforge_otel.instrumentation.event_queue import DEFAULT_MAX_QUEUE_SIZE, EventQueue
from worldforge_otel.instrumentation.metrics import ProviderMetrics
from worldforge_otel.instrumentation.span_attributes import error_type, span_attributes
from worldforge_otel.instrumentation.trace_context import parent_context, run_id
from worldforge_otel.version import __version__

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HandlerStats:
    """Counts since the handler was created."""

    events_handled: int
    events_dropped: int


class ProviderEventHandler:
    """Turns each WorldForge ``ProviderEvent`` into one OTel span and metric measurements.

    Use it as ``WorldForge(event_handler=ProviderEventHandler())``. The event arrives after the provider
    call finished, so the span ends now and starts ``duration_ms`` earlier. Failures get status ERROR and
    ``error.type``; retries keep status UNSET and carry a ``worldforge.retry`` event, so a trace shows every
    attempt. The handler is thread-safe and never raises: an event it cannot record is counted as dropped.

    By default the host's thread only takes a snapshot of the event and its current trace context and hands
    it to a worker thread (a bounded queue: ``max_queue_size`` events waiting at most, more are dropped and
    counted), which builds the span and records the metrics. ``force_flush()`` waits for the worker;
    ``deferred=False`` does everything on the calling thread instead.

    Args:
        tracer_provider: Provider for spans; the global one when omitted.
        meter_provider: Provider for metrics; the global one when omitted.
        deferred: Build spans and metrics on a worker thread (default) instead of the calling thread.
        max_queue_size: Events waiting for the worker at most.
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        deferred: bool = True,
        max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE,
    ) -> None:
        tracer_provider = tracer_provider or get_tracer_provider()
        self._tracer = tracer_provider.get_tracer(semconv.INSTRUMENTATION_SCOPE, __version__)
        self._limiter = limiter_for(tracer_provider)
        self._metrics = ProviderMetrics(meter_provider)
        self._errors = ThrottledLog(_LOG)
        self._lock = ForkSafeLock()
        self._handled = 0
        self._dropped = 0
        self._queue = EventQueue(self._record_batch, max_size=max_queue_size) if deferred else None
        self._scope_trusted = False
        self.enabled = True

    def __call__(self, event: object) -> None:
        """Record ``event``; never raises into WorldForge."""
        if not self.enabled or suppressed():
            return
        end_ns = time.time_ns()
        try:
            fields = snapshot(event)
        except Exception:
            self._count_drop("could not read a ProviderEvent; it was dropped")
            return
        if self._queue is None:
            self._record_one(fields, end_ns, None)
            return
        if not self._queue.put((fields, end_ns, otel_context.get_current())):
            self._errors.error(
                "worldforge_otel: the event queue is full (%d events waiting); dropping events. Raise "
                "max_queue_size or check that the exporters keep up",
                len(self._queue),
                exc_info=False,
            )

    def force_flush(self, timeout_millis: float = 30_000) -> bool:
        """Wait until every event handed over so far became a span; False on timeout."""
        return self._queue.flush(timeout_millis / 1000.0) if self._queue is not None else True

    def shutdown(self, timeout_millis: float = 30_000) -> bool:
        """Record what is queued (bounded) and stop the worker; later events are ignored."""
        self.enabled = False
        return self._queue.close(timeout_millis / 1000.0) if self._queue is not None else True

    @property
    def stats(self) -> HandlerStats:
        """Events recorded and dropped so far (dropped: unreadable, failed, or over the queue's capacity)."""
        queue_dropped = self._queue.dropped if self._queue is not None else 0
        with self._lock:
            return HandlerStats(events_handled=self._handled, events_dropped=self._dropped + queue_dropped)

    def _record_batch(self, batch: list[tuple[Snapshot, int, Context]]) -> None:
        records = [record for fields, end_ns, context in batch
                   if (record := self._span_for(fields, end_ns, context)) is not None]  # fmt: skip
        self._record_metrics(records)

    def _record_one(self, fields: Snapshot, end_ns: int, context: Context | None) -> None:
        record = self._span_for(fields, end_ns, context)
        if record is not None:
            self._record_metrics([record])

    def _span_for(self, fields: Snapshot, end_ns: int, context: Context | None) -> EventRecord | None:
        try:
            record = EventRecord.from_snapshot(fields)
            self._record(record, end_ns, context)
        except Exception:
            self._count_drop("could not record a ProviderEvent; it was dropped")
            return None
        return record

    def _record_metrics(self, records: list[EventRecord]) -> None:
        try:
            self._metrics.record_batch(records)
        except Exception:
            self._errors.error("worldforge_otel: could not record provider metrics")
        with self._lock:
            self._handled += len(records)

    def _count_drop(self, message: str) -> None:
        with self._lock:
            self._dropped += 1
        self._errors.error("worldforge_otel: %s", message)

    def _record(self, record: EventRecord, end_ns: int, context: Context | None) -> None:
        duration_ns = int(record.duration_ms * 1_000_000) if record.duration_ms is not None else 0
        attributes = span_attributes(record, run_id=run_id(record.metadata))
        failed = record.phase == "failure"
        if failed:  # known at the start: one attribute set, not a second locked call after it
            attributes[semconv.ERROR_TYPE] = error_type(record)
        if self._limiter is not None:
            self._limiter.apply(attributes)
        span = self._tracer.start_span(
            semconv.span_name(record.operation, record.provider),
            context=parent_context(record.metadata) or context,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=end_ns - duration_ns,
        )
        if failed:
            span.set_status(Status(StatusCode.ERROR, record.message or None))
        elif record.phase == "retry":
            span.add_event(
                semconv.RETRY_EVENT,
                {semconv.ATTEMPT: record.attempt, semconv.MAX_ATTEMPTS: record.max_attempts},
                timestamp=end_ns,
            )
        span.end(end_time=end_ns)
        if not self._scope_trusted:  # spans of this tracer are clean when made: the exporters need not redo it
            trust_scope(getattr(span, "instrumentation_scope", None))
            self._scope_trusted = True
