"""The trace waterfall: the trace that ended last before the time cursor, drawn as Jaeger draws one.

``otel/traces/waterfall/`` holds one picture per drawn trace, logged at the trace's end on ``worldforge_time``,
so the view follows the time cursor (scrub back to see an earlier trace):

- ``bars``: a filled bar (a thick LineStrips2D) per span, one row per span in tree order (a parent, then its
  children by start time), x from start to end with the trace's duration scaled to :data:`TRACE_WIDTH`;
  coloured by status (error red, retry amber, ok green, unset blue); a bar is at least :data:`MIN_BAR` long,
  so a 1 µs span is a dot, not nothing;
- ``labels``: a name gutter left of the bars, a ``name duration`` label per row (names cut to
  :data:`NAME_CHARS`), so every row is named and no label lies on a bar or on another label;
- ``events``: span events as white dots on their bars, without text (the tree lists them by name);
- ``tree``: the span hierarchy as an indented TextDocument (names, durations, offsets, span ids, events).

At most :data:`MAX_ROWS` rows are drawn (a longer trace ends in a "… N more" row) inside
:data:`VIEW_BOUNDS`, which the blueprint shows, so nothing is cut off. ``otel/traces/<trace_id>/tree`` keeps each
drawn trace's tree under its id. Spans arrive as they end (children before parents); each export re-draws
the traces it touches, so a late parent re-nests its children and the picture is exact once the trace ended.

A single-span trace is not drawn (it has no hierarchy). Drawing is bounded: the first
:data:`~.cardinality.MAX_TRACES` traces with a WorldForge span (a provider event or an artifact) or an error are
drawn, and the first :data:`~.cardinality.MAX_PLAIN_TRACES` others, as a sample of their shape; and the former
are started at a bounded rate (:data:`~.cardinality.NEW_TRACES_BURST` at once, then
:data:`~.cardinality.NEW_TRACES_PER_SEC` a second: a collector taking 3,000 traces/s would otherwise spend its
time drawing pictures nobody can look at). Traces left out are counted in :attr:`TraceWaterfall.not_drawn`;
spans of a trace already drawn always re-draw it. State is bounded too: the newest :data:`MAX_REMEMBERED`
traces and :data:`MAX_SPANS_PER_TRACE` spans per trace.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from worldforge_otel import semconv
from worldforge_otel._fork import ForkSafeLock
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
from worldforge_otel.rerun.layout import TRACES_ROOT, WATERFALL_PATH
from worldforge_otel.sanitize import clean_text

MAX_REMEMBERED: Final = 256
MAX_SPANS_PER_TRACE: Final = 2048
MAX_REFUSED_REMEMBERED: Final = 65_536  # trace ids left out, remembered so their later spans stay out (~6 MB)
TRACE_WIDTH: Final = 100.0  # a trace's duration, whatever it is, in picture units
ROW: Final = 10.0  # height of one row
GUTTER: Final = 110.0  # the name gutter left of the bars: x from -GUTTER to 0
MAX_ROWS: Final = 12  # rows drawn per trace; a longer trace ends in a "… N more" row (the tree has them all)
NAME_CHARS: Final = 22  # a span name in the gutter is cut to this many characters
LABEL_CHAR_UNITS: Final = 3.2  # a label character's width in picture units at the default layout's scale
LABEL_X: Final = -GUTTER / 2  # labels are centred on their anchor point, so they are centred in the gutter
LABEL_ANCHOR_RADIUS: Final = 0.05
BAR_RADIUS: Final = ROW * 0.3  # bars are thick line strips: filled, 0.6 of a row high, rounded ends
MIN_BAR: Final = 0.6  # the shortest bar's length (plus its rounded ends): a 1 µs span is still a visible dot
EVENT_RADIUS: Final = ROW * 0.16
LABEL_COLOR: Final = [215, 215, 215]
VIEW_BOUNDS: Final = ((-GUTTER - 2.0, TRACE_WIDTH + BAR_RADIUS + 2.0), (-2.0, MAX_ROWS * ROW + 2.0))
"""x and y ranges the waterfall view shows (the blueprint sets them): every row of a picture is inside."""
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
        self._lock = ForkSafeLock()
        left_out = {"counter": "traces_not_drawn", "hint": "",
                    "overflow_does": "are not drawn as waterfalls (their spans are still written)"}  # fmt: skip
        self._worth_drawing = NameBudget("traces", MAX_TRACES, **left_out)
        self._plain = NameBudget("plain traces", MAX_PLAIN_TRACES, **left_out)

    @property
    def not_drawn(self) -> int:
        """Traces left undrawn because their budget was spent."""
        return self._worth_drawing.overflowed + self._plain.overflowed + self._rate.refused

    def add(self, batch: ColumnBatch, spans: Sequence[ReadableSpan]) -> None:
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
                _draw(batch, trace_id, trace)

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
            trace = _Trace()
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


@dataclass(frozen=True, slots=True)
class Picture:
    """One trace drawn in waterfall units (see the module docstring); plain data, tested for its geometry."""

    strips: list[list[list[float]]]  # one bar per drawn span: [[start, y], [end, y]]
    colors: list[list[int]]
    label_positions: list[list[float]]  # one per row, in the gutter: the label hangs below the point
    labels: list[str]
    event_positions: list[list[float]]
    rows: int


def picture(bars: dict[int, _Bar], order: list[tuple[int, int]]) -> Picture:
    """Lay out one trace: a row per span in tree order (at most :data:`MAX_ROWS`), bars scaled to the trace."""
    origin = min(bar.start_ns for bar in bars.values())
    span_ns = max(max(bar.end_ns for bar in bars.values()) - origin, 1)
    scale = TRACE_WIDTH / span_ns
    shown = order if len(order) <= MAX_ROWS else order[: MAX_ROWS - 1]
    strips: list[list[list[float]]] = []
    colors: list[list[int]] = []
    label_positions: list[list[float]] = []
    labels: list[str] = []
    event_positions: list[list[float]] = []
    for index, (span_id, _) in enumerate(shown):
        bar = bars[span_id]
        top = index * ROW
        middle = top + ROW / 2
        start = (bar.start_ns - origin) * scale
        end = min(max((bar.end_ns - origin) * scale, start + MIN_BAR), TRACE_WIDTH)
        start = min(start, end - MIN_BAR)
        strips.append([[start, middle], [end, middle]])
        colors.append(bar.color)
        label_positions.append([LABEL_X, top])
        labels.append(row_label(bar.name, (bar.end_ns - bar.start_ns) / 1e6))
        event_positions.extend([min(max((timestamp - origin) * scale, 0.0), TRACE_WIDTH), middle]
                               for timestamp, _ in bar.events)  # fmt: skip
    if len(shown) < len(order):
        label_positions.append([LABEL_X, len(shown) * ROW])
        labels.append(f"… {len(order) - len(shown)} more (Trace tree)")
    return Picture(strips, colors, label_positions, labels, event_positions, rows=len(labels))


def row_label(name: str, duration_ms: float) -> str:
    """``name duration`` for the gutter, the name cut to :data:`NAME_CHARS` so every label fits it."""
    short = name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"
    return f"{short} {_compact_ms(duration_ms)}"


def _compact_ms(duration_ms: float) -> str:
    if duration_ms >= 10_000:
        return f"{duration_ms / 1000:.0f} s"
    if duration_ms >= 1000:
        return f"{duration_ms / 1000:.1f} s"
    if duration_ms >= 100:
        return f"{duration_ms:.0f} ms"
    return f"{duration_ms:.1f} ms" if duration_ms >= 1 else f"{duration_ms:.2f} ms"


def _draw(batch: ColumnBatch, trace_id: int, trace: _Trace) -> None:
    """Draw one trace into the shared picture at the trace's end, and its span tree."""
    bars = trace.bars
    order = _tree_order(bars)
    drawn = picture(bars, order)
    at = max(bar.end_ns for bar in bars.values())
    batch.shape(f"{WATERFALL_PATH}/bars", ShapeKind.LINE_STRIPS2D, time_ns=at, strips=drawn.strips,
                colors=drawn.colors, radii=[BAR_RADIUS] * len(drawn.strips))  # fmt: skip
    rows = drawn.rows
    batch.shape(f"{WATERFALL_PATH}/labels", ShapeKind.POINTS2D, time_ns=at, positions=drawn.label_positions,
                labels=drawn.labels, colors=[LABEL_COLOR] * rows, radii=[LABEL_ANCHOR_RADIUS] * rows)  # fmt: skip
    count = len(drawn.event_positions)  # also when 0: the previous picture's events must not stay
    batch.shape(f"{WATERFALL_PATH}/events", ShapeKind.POINTS2D, time_ns=at, positions=drawn.event_positions,
                colors=[EVENT_COLOR] * count, radii=[EVENT_RADIUS] * count, show_labels=False)  # fmt: skip
    origin = min(bar.start_ns for bar in bars.values())
    tree = f"trace {trace_id:032x} · {len(bars)} spans\n{_tree(bars, order, origin)}"
    batch.document(f"{WATERFALL_PATH}/tree", tree, time_ns=at)
    batch.document(f"{TRACES_ROOT}/{trace_id:032x}/tree", tree, time_ns=at)


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
        lines.extend(f"{'  ' * (depth + 1)}◆ {name} (+{(timestamp - origin) / 1e6:.2f} ms)"
                     for timestamp, name in bar.events)  # fmt: skip
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
