"""The trace waterfall: every trace's spans as bars in a 2D view, and its span tree as a document.

For each trace with more than one span, ``otel/traces/<trace_id>/spans`` holds one Boxes2D bar per span,
one row per span in tree order (a parent, then its children by start time), as Jaeger draws a trace:
x runs from start to end in ms since the trace's first span; a row is 1/:data:`ROWS_PER_WIDTH` of the
trace's duration high, so a trace of N spans is drawn about ROWS_PER_WIDTH:N wide whatever its length
(2D views keep the aspect ratio). Bars are coloured by status (error red, retry amber, ok green, unset
blue); bars at least :data:`LABEL_MIN_WIDTH` of the trace wide are labelled with the span name and
duration (a label wider than its bar would wrap over the next rows; the rows follow the tree document's
lines). ``.../events`` holds the span events as Points2D on their bars, and ``.../tree`` is the span
hierarchy as an indented TextDocument (names, durations, span ids). Traces are stacked downwards in the
order they were first seen. Rows are on ``worldforge_time`` at the export, and each export re-draws the
whole trace: spans arrive as they end (children before parents), and re-drawing places a late parent and
re-nests its children, so the picture is exact once the trace ended.

Cost: one entity per trace, not per span (measured: an entity per span was 4.6x slower and 11x larger, see
docs/performance.md). A single-span trace is not drawn (it has no hierarchy). Entities are bounded: the first
:data:`~.cardinality.MAX_TRACES` traces with a WorldForge span (a provider event or an artifact) or an error are
drawn, and the first :data:`~.cardinality.MAX_PLAIN_TRACES` others, as a sample of their shape; and the former
are started at a bounded rate (:data:`~.cardinality.NEW_TRACES_BURST` at once, then
:data:`~.cardinality.NEW_TRACES_PER_SEC` a second: drawing one costs about 0.8 ms of CPU, so a collector taking
3,000 traces/s would spend its time drawing pictures nobody can look at). Traces left out are counted in
:attr:`TraceWaterfall.not_drawn`; spans of a trace already drawn always re-draw it. State is bounded too: the
newest :data:`MAX_REMEMBERED` traces and :data:`MAX_SPANS_PER_TRACE` spans per trace.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from worldforge_otel import semconv
from worldforge_otel.rerun.cardinality import (
    MAX_PLAIN_TRACES,
    MAX_TRACES,
    NEW_TRACES_BURST,
    NEW_TRACES_PER_SEC,
    OVERFLOW,
    NameBudget,
    RateBudget,
)
from worldforge_otel.rerun.columns import ColumnBatch, ShapeKind
from worldforge_otel.rerun.layout import TRACES_ROOT
from worldforge_otel.sanitize import clean_text

MAX_REMEMBERED: Final = 256
MAX_SPANS_PER_TRACE: Final = 2048
MAX_REFUSED_REMEMBERED: Final = 65_536  # trace ids left out, remembered so their later spans stay out (~6 MB)
ROWS_PER_WIDTH: Final = 12  # a row is 1/12 of the trace's duration high
BAR_FILL: Final = 0.8  # of a row
LABEL_MIN_WIDTH: Final = 0.2  # bars narrower than this share of the trace are drawn unlabelled (the tree names them)
TRACE_GAP_ROWS: Final = 2  # empty rows between two traces
COLORS: Final = {"error": [230, 60, 60], "retry": [240, 170, 40], "ok": [70, 170, 110], "unset": [90, 140, 230]}
EVENT_COLOR: Final = [250, 250, 250]


@dataclass(frozen=True, slots=True)
class _Bar:
    parent_id: int | None
    name: str
    start_ns: int
    end_ns: int
    color: list[int]
    events: tuple[tuple[int, str], ...]


@dataclass(slots=True)
class _Trace:
    top: float  # y of the first row (traces are stacked downwards)
    bars: dict[int, _Bar] = field(default_factory=dict)  # span id -> bar, in arrival order


class TraceWaterfall:
    """Remembers recent traces and re-draws each trace touched by an export."""

    def __init__(
        self,
        *,
        burst: int = NEW_TRACES_BURST,
        per_sec: float = NEW_TRACES_PER_SEC,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._traces: OrderedDict[int, _Trace] = OrderedDict()
        self._rate = RateBudget(burst, per_sec, clock)
        self._refused: OrderedDict[int, None] = OrderedDict()  # recent traces left out
        self._bottom = 0.0  # below every trace drawn so far
        self._lock = threading.Lock()
        left_out = {"counter": "traces_not_drawn", "hint": "",
                    "overflow_does": "are not drawn as waterfalls (their spans are still written)"}  # fmt: skip
        self._worth_drawing = NameBudget("traces", MAX_TRACES, **left_out)
        self._plain = NameBudget("plain traces", MAX_PLAIN_TRACES, **left_out)

    @property
    def not_drawn(self) -> int:
        """Traces left undrawn because their budget was spent."""
        return self._worth_drawing.overflowed + self._plain.overflowed + self._rate.refused

    def add(self, batch: ColumnBatch, spans: Sequence[ReadableSpan], *, time_ns: int) -> None:
        """Remember ``spans`` and add the rows of every trace they belong to."""
        by_trace: dict[int, list[ReadableSpan]] = {}
        for span in spans:
            context = span.get_span_context()
            if context is not None and context.trace_id and span.start_time is not None:
                by_trace.setdefault(context.trace_id, []).append(span)
        with self._lock:
            for trace_id, members in by_trace.items():
                trace = self._traces.get(trace_id)
                if trace is None and len(members) == 1 and members[0].parent is None:
                    continue  # a trace of one span: nothing to draw
                if trace is None and not self._admit(trace_id, members):
                    continue
                trace = self._remember(trace_id, trace, members)
                bottom = _draw(batch, f"{TRACES_ROOT}/{trace_id:032x}", trace, time_ns)
                self._bottom = max(self._bottom, bottom)

    def _admit(self, trace_id: int, members: list[ReadableSpan]) -> bool:
        if trace_id in self._refused:  # once left out, always: its later spans alone would draw half a trace
            return False
        if any(_worth_drawing(span) for span in members):
            admitted = self._rate.admit() and self._worth_drawing.admit("traces", f"{trace_id:032x}") != OVERFLOW
        else:
            admitted = self._plain.admit("traces", f"{trace_id:032x}") != OVERFLOW
        if not admitted:
            self._refused[trace_id] = None
            while len(self._refused) > MAX_REFUSED_REMEMBERED:
                self._refused.popitem(last=False)
        return admitted

    def _remember(self, trace_id: int, trace: _Trace | None, spans: list[ReadableSpan]) -> _Trace:
        if trace is None:
            trace = _Trace(top=self._bottom)
            self._traces[trace_id] = trace
            while len(self._traces) > MAX_REMEMBERED:
                self._traces.popitem(last=False)
        self._traces.move_to_end(trace_id)
        for span in spans:
            if len(trace.bars) >= MAX_SPANS_PER_TRACE:
                break
            context = span.get_span_context()
            parent = span.parent if span.parent is not None and span.parent.trace_id == trace_id else None
            start = span.start_time or 0
            trace.bars[context.span_id] = _Bar(  # type: ignore[union-attr]  # filtered in add()
                parent_id=parent.span_id if parent is not None else None,
                name=clean_text(span.name or "span", max_chars=96),
                start_ns=start,
                end_ns=max(span.end_time or start, start),
                color=_color(span),
                events=tuple((event.timestamp, clean_text(event.name, max_chars=64)) for event in span.events),
            )
        return trace


def _draw(batch: ColumnBatch, path: str, trace: _Trace, time_ns: int) -> float:
    """Add the rows of one trace; returns the y below it (where the next trace may start)."""
    bars = trace.bars
    order = _tree_order(bars)
    origin = min(bar.start_ns for bar in bars.values())
    end = max(bar.end_ns for bar in bars.values())
    row = max((end - origin) / 1e6, 1e-3) / ROWS_PER_WIDTH
    mins, sizes, labels, colors = [], [], [], []
    event_points, event_labels = [], []
    for index, (span_id, _) in enumerate(order):
        bar = bars[span_id]
        y = trace.top + index * row
        duration_ms = (bar.end_ns - bar.start_ns) / 1e6
        mins.append([(bar.start_ns - origin) / 1e6, y])
        sizes.append([max(duration_ms, row / 100), row * BAR_FILL])
        wide = (bar.end_ns - bar.start_ns) >= LABEL_MIN_WIDTH * (end - origin)
        labels.append(f"{bar.name} · {duration_ms:.2f} ms" if wide else "")
        colors.append(bar.color)
        for timestamp, name in bar.events:
            event_points.append([(timestamp - origin) / 1e6, y + row * BAR_FILL / 2])
            event_labels.append(name)
    batch.shape(f"{path}/spans", ShapeKind.BOXES2D, time_ns=time_ns, mins=mins, sizes=sizes, labels=labels,
                colors=colors)  # fmt: skip
    if event_points:
        count = len(event_points)
        batch.shape(f"{path}/events", ShapeKind.POINTS2D, time_ns=time_ns, positions=event_points,
                    labels=event_labels, colors=[EVENT_COLOR] * count, radii=[row * 0.2] * count)  # fmt: skip
    batch.document(f"{path}/tree", _tree(bars, order, origin), time_ns=time_ns)
    return trace.top + (len(order) + TRACE_GAP_ROWS) * row


def _tree_order(bars: dict[int, _Bar]) -> list[tuple[int, int]]:
    """Every span once, as ``(span id, depth)``: parent first, siblings by start time.

    A span without a parent is a root (depth 0); one whose parent has not arrived (still running) or whose
    parents form a loop (ids from a broken sender) is a root one level in (depth 1).
    """
    children: dict[int | None, list[int]] = {}
    for span_id, bar in bars.items():
        parent = bar.parent_id if bar.parent_id in bars and bar.parent_id != span_id else None
        children.setdefault(parent, []).append(span_id)

    def by_start(span_ids: list[int]) -> list[int]:
        return sorted(span_ids, key=lambda s: bars[s].start_ns, reverse=True)  # popped from the end: earliest first

    order: list[tuple[int, int]] = []
    placed: set[int] = set()
    roots = by_start(children.get(None, []))
    stack = [(span_id, 0 if bars[span_id].parent_id is None else 1) for span_id in roots]
    unplaced = iter(sorted(bars, key=lambda s: bars[s].start_ns))
    while stack or len(placed) < len(bars):
        if not stack:  # only spans whose parents form a loop are left
            stack.append((next(s for s in unplaced if s not in placed), 1))
        span_id, depth = stack.pop()
        if span_id in placed:
            continue
        placed.add(span_id)
        order.append((span_id, depth))
        stack.extend((child, depth + 1) for child in by_start(children.get(span_id, [])))
    return order


def _tree(bars: dict[int, _Bar], order: list[tuple[int, int]], origin: int) -> str:
    lines = []
    for span_id, depth in order:
        bar = bars[span_id]
        lines.append(
            f"{'  ' * depth}{bar.name} · {(bar.end_ns - bar.start_ns) / 1e6:.2f} ms "
            f"(+{(bar.start_ns - origin) / 1e6:.2f} ms) span {span_id:016x}"
        )
    return "\n".join(lines)


def _worth_drawing(span: ReadableSpan) -> bool:
    attributes = span.attributes or {}
    return (semconv.PROVIDER in attributes or semconv.ARTIFACT_KIND in attributes
            or span.status.status_code is StatusCode.ERROR)  # fmt: skip


def _color(span: ReadableSpan) -> list[int]:
    if span.status.status_code is StatusCode.ERROR:
        return COLORS["error"]
    if (span.attributes or {}).get(semconv.PHASE) == "retry":
        return COLORS["retry"]
    return COLORS["ok"] if span.status.status_code is StatusCode.OK else COLORS["unset"]
