"""The trace waterfall: every span as a bar in a 2D view, and the span hierarchy as entity paths.

Each span is one entity ``otel/traces/<trace_id>/<span_id>`` nested under its parent's entity when the parent
was already seen (spans arrive as they end, so a parent that ends later is known only by its id: the child
then sits under ``.../<parent_span_id>/<span_id>``). Its Boxes2D bar runs from x = start to x = end in ms
since the trace's first seen span, at y = the trace's band + depth, coloured by status and labelled with the
span name and duration; span events are Points2D on the bar. Rows are on ``worldforge_time`` at the span end,
so scrubbing the timeline grows the waterfall next to the 3D scene at the same moment. State is bounded:
the newest :data:`MAX_TRACES` traces and :data:`MAX_SPANS_PER_TRACE` spans per trace are remembered.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from worldforge_otel.instrumentation import semconv
from worldforge_otel.rerun.columns import ColumnBatch, ShapeKind
from worldforge_otel.rerun.layout import trace_path
from worldforge_otel.sanitize import clean_text

MAX_TRACES: Final = 256
MAX_SPANS_PER_TRACE: Final = 2048
TRACE_BAND: Final = 10  # y distance between two traces' bands
BAR_HEIGHT: Final = 0.8
COLORS: Final = {"error": [230, 60, 60], "retry": [240, 170, 40], "ok": [70, 170, 110], "unset": [90, 140, 230]}


@dataclass(slots=True)
class _Trace:
    band: int
    start_ns: int
    spans: dict[int, tuple[list[str], int]] = field(default_factory=dict)  # span id -> (path ids, depth)


class TraceWaterfall:
    """Remembers recent traces so each new span is placed under its parent, on its trace's band."""

    def __init__(self) -> None:
        self._traces: OrderedDict[int, _Trace] = OrderedDict()
        self._bands = 0
        self._lock = threading.Lock()

    def add(self, batch: ColumnBatch, spans: Sequence[ReadableSpan]) -> None:
        """Add one bar (and its events) per span; parents first, so a batch's own hierarchy is exact."""
        with self._lock:
            for span in _parents_first(spans):
                self._add(batch, span)

    def _trace(self, trace_id: int, start_ns: int) -> _Trace:
        trace = self._traces.get(trace_id)
        if trace is None:
            trace = _Trace(band=self._bands, start_ns=start_ns)
            self._bands += 1
            self._traces[trace_id] = trace
            while len(self._traces) > MAX_TRACES:
                self._traces.popitem(last=False)
        else:
            self._traces.move_to_end(trace_id)
        return trace

    def _add(self, batch: ColumnBatch, span: ReadableSpan) -> None:
        context = span.get_span_context()
        if context is None or not context.trace_id or span.start_time is None:
            return
        start_ns, end_ns = span.start_time, span.end_time or span.start_time
        trace = self._trace(context.trace_id, start_ns)
        own = f"{context.span_id:016x}"
        parent = span.parent if span.parent is not None and span.parent.trace_id == context.trace_id else None
        known = trace.spans.get(parent.span_id) if parent is not None else None
        if known is not None:
            ids, depth = [*known[0], own], known[1] + 1
        elif parent is not None:
            ids, depth = [f"{parent.span_id:016x}", own], 1
        else:
            ids, depth = [own], 0
        if len(trace.spans) < MAX_SPANS_PER_TRACE:
            trace.spans[context.span_id] = (ids, depth)
        path = trace_path(f"{context.trace_id:032x}", ids)
        y = trace.band * TRACE_BAND + depth
        x0 = (start_ns - trace.start_ns) / 1e6
        duration_ms = max(0, end_ns - start_ns) / 1e6
        label = f"{clean_text(span.name or 'span', max_chars=96)} · {duration_ms:.2f} ms"
        size = [max(duration_ms, 1e-3), BAR_HEIGHT]
        batch.shape(path, ShapeKind.BOXES2D, time_ns=end_ns, mins=[[x0, y]], sizes=[size], labels=[label],
                    colors=[_color(span)])  # fmt: skip
        if span.events:
            positions = [[(event.timestamp - trace.start_ns) / 1e6, y + BAR_HEIGHT / 2] for event in span.events]
            names = [clean_text(event.name, max_chars=64) for event in span.events]
            batch.shape(f"{path}/events", ShapeKind.POINTS2D, time_ns=end_ns, positions=positions, labels=names,
                        colors=[[250, 250, 250]] * len(names), radii=[0.15] * len(names))  # fmt: skip


def _parents_first(spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    """``spans`` ordered so each parent in the batch comes before its children.

    Start times can't tell: a WorldForge provider span is back-dated by its duration and may start before
    its parent.
    """
    by_id = {context.span_id: s for s in spans if (context := s.get_span_context()) is not None}
    ordered: list[ReadableSpan] = []
    placed: set[int] = set()
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        chain: list[ReadableSpan] = []
        node: ReadableSpan | None = span
        while node is not None and id(node) not in placed and len(chain) <= len(spans):
            chain.append(node)
            node = by_id.get(node.parent.span_id) if node.parent is not None else None
        for item in reversed(chain):
            if id(item) not in placed:
                placed.add(id(item))
                ordered.append(item)
    return ordered


def _color(span: ReadableSpan) -> list[int]:
    if span.status.status_code is StatusCode.ERROR:
        return COLORS["error"]
    if (span.attributes or {}).get(semconv.PHASE) == "retry":
        return COLORS["retry"]
    return COLORS["ok"] if span.status.status_code is StatusCode.OK else COLORS["unset"]
