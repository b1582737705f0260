"""Attaching to a host's SDK providers: detachable processors, and finding exporters already attached."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, Final

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from worldforge_otel.instrumentation.event_queue import EVENT_WORKER_NAME

# Where the SDK keeps processors, readers and exporters (private names, read defensively: if they move,
# finding attached exporters finds nothing and configure() adds its own).
_CHILD_ATTRIBUTES: Final = (
    "_active_span_processor",
    "_span_processors",
    "_batch_processor",
    "_metric_readers",
    "_measurement_consumer",
    "_reader_storages",
    "_multi_log_record_processor",
    "_log_record_processors",
    "_processor",
    "_exporter",
    "span_exporter",
)
_MAX_DEPTH: Final = 6


def attached_objects(provider: object) -> Iterator[object]:
    """Every processor, reader and exporter reachable from an SDK provider."""
    stack: list[tuple[object, int]] = [(provider, 0)]
    seen: set[int] = set()
    while stack:
        node, depth = stack.pop()
        if id(node) in seen or depth > _MAX_DEPTH:
            continue
        seen.add(id(node))
        if depth:
            yield node
        for name in _CHILD_ATTRIBUTES:
            child = getattr(node, name, None)
            if child is None or isinstance(child, str | bytes):
                continue
            children = tuple(child) if isinstance(child, list | tuple | dict) else (child,)  # dict: its keys
            stack.extend((item, depth + 1) for item in children)


def feeders_of(provider: object, kind: type) -> list[Any]:
    """The processors and readers of ``provider`` that hand data to a ``kind`` exporter, outermost first.

    Flushing one of them flushes that exporter's pipeline only (a ``BatchSpanProcessor`` of a Rerun exporter,
    say, and not the OTLP one next to it). A pipeline whose exporter was shut down already (the provider's own
    exit handler may run first) is left out: it has nothing left to deliver.
    """
    found: list[Any] = []
    for node in attached_objects(provider):
        inner = getattr(node, "_batch_processor", None)
        exporter = getattr(node, "_exporter", None) or getattr(inner, "_exporter", None)
        live = not getattr(exporter, "is_shut_down", False)
        if isinstance(exporter, kind) and live and callable(getattr(node, "force_flush", None)):
            found.append(node)
    nested = {id(getattr(node, "_batch_processor", None)) for node in found}
    return [node for node in found if id(node) not in nested]  # a BatchSpanProcessor, not also its inner part


def queued_items(feeder: object) -> int:
    """How many spans or log records wait in a batch processor's queue (0 for a metric reader or an unknown one)."""
    queue = getattr(getattr(feeder, "_batch_processor", None), "_queue", None)  # opentelemetry-sdk >= 1.31
    try:
        return len(queue) if queue is not None else 0
    except TypeError:
        return 0


def find_attached(provider: object, kind: type) -> Any:
    """The first ``kind`` instance attached to ``provider`` that is not shut down, or None."""
    for node in attached_objects(provider):
        if isinstance(node, kind) and not getattr(node, "is_shut_down", False):
            return node
    return None


class DetachableSpanProcessor(SpanProcessor):
    """Forwards to a processor until shut down; the host's provider keeps it, but it goes quiet.

    It also counts the spans a ``BatchSpanProcessor`` is about to drop because its queue is full (the SDK
    drops them silently unless its internal metrics are on).
    """

    def __init__(self, processor: SpanProcessor) -> None:
        self._processor = processor
        self._active = True
        self.dropped = 0
        batch = getattr(processor, "_batch_processor", None)  # opentelemetry-sdk >= 1.31 internals
        self._queue = getattr(batch, "_queue", None)
        self._queue_limit = getattr(batch, "_max_queue_size", None)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self._active:
            self._processor.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if self._active:
            queue, limit = self._queue, self._queue_limit
            if queue is not None and limit is not None and len(queue) >= limit and not _wait_for_room(queue, limit):
                self.dropped += 1  # the full deque drops its oldest span; approximate under contention
            self._processor.on_end(span)

    def shutdown(self) -> None:
        if self._active:
            self._active = False
            self._processor.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._processor.force_flush(timeout_millis) if self._active else False


class DetachableLogProcessor:
    """The log-record twin of :class:`DetachableSpanProcessor` (LoggerProvider has no way to remove one)."""

    def __init__(self, processor: Any) -> None:
        self._processor = processor
        self._active = True

    def on_emit(self, log_record: Any) -> None:
        if self._active:
            self._processor.on_emit(log_record)

    def enabled(self, **kwargs: Any) -> bool:
        return self._active

    def shutdown(self) -> None:
        if self._active:
            self._active = False
            self._processor.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return bool(self._processor.force_flush(timeout_millis)) if self._active else False


BACKPRESSURE_TIMEOUT_SECS: Final = 5.0


def _wait_for_room(queue: Any, limit: int) -> bool:
    """On our own event worker only (never a host thread): wait, bounded, until the batch queue has room.

    The worker produces provider spans faster than an exporter may drain them; waiting here moves the
    back-pressure into our own bounded event queue, where drops are counted exactly.
    """
    if threading.current_thread().name != EVENT_WORKER_NAME:
        return False
    deadline = time.monotonic() + BACKPRESSURE_TIMEOUT_SECS
    while len(queue) >= limit and time.monotonic() < deadline:
        time.sleep(0.001)
    return len(queue) < limit


def is_placeholder(provider: object) -> bool:
    """Whether ``provider`` is the API's stand-in used before any provider is set."""
    return type(provider).__name__ in {
        "ProxyTracerProvider",
        "_ProxyMeterProvider",
        "ProxyMeterProvider",
        "ProxyLoggerProvider",
    }
