"""The trace waterfall, read back from the recording: labelled rows in tree order, filled bars, events without
text, the picture of the latest trace at the time cursor, and a geometry where no label collides and nothing
lies outside the view the blueprint shows."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, Status, StatusCode

import worldforge_otel
from conftest import column_cells, column_values, needs_rerun, read_rrd
from worldforge_otel import RerunOptions
from worldforge_otel.demo import DemoEvent
from worldforge_otel.rerun import RerunSpanExporter
from worldforge_otel.rerun.waterfall import (
    BAR_RADIUS,
    GUTTER,
    LABEL_CHAR_UNITS,
    MAX_ROWS,
    MIN_BAR,
    ROW,
    TRACE_WIDTH,
    VIEW_BOUNDS,
)

pytestmark = needs_rerun
PICTURE = "/otel/traces/waterfall"
MS = 1_000_000


def last_picture(path):
    """(labels, bars, colours, radii, events, tree) of the newest picture."""
    frame = read_rrd(path, index="worldforge_time", contents="/otel/traces/**")
    return (
        column_cells(frame, f"{PICTURE}/labels", "Points2D:labels")[-1],
        column_cells(frame, f"{PICTURE}/bars", "LineStrips2D:strips")[-1],
        column_cells(frame, f"{PICTURE}/bars", "LineStrips2D:colors")[-1],
        column_cells(frame, f"{PICTURE}/bars", "LineStrips2D:radii")[-1],
        frame,
        column_values(frame, f"{PICTURE}/tree", "TextDocument:text")[-1],
    )


def label_positions(frame) -> list[list[float]]:
    return column_cells(frame, f"{PICTURE}/labels", "Points2D:positions")[-1]


def assert_legible(labels: list[str], anchors: list[list[float]], strips: list, events: list) -> None:
    """The geometry contract: every label in the gutter, none over another or over a bar, all inside the view.

    A label hangs below its anchor, centred on it, ``len(label) * LABEL_CHAR_UNITS`` wide and a row high (at
    the default layout's scale); a bar is a strip plus its rounded ends.
    """
    (x_min, x_max), (y_min, y_max) = VIEW_BOUNDS
    boxes = []
    for label, (x, y) in zip(labels, anchors, strict=True):
        half = len(label) * LABEL_CHAR_UNITS / 2
        box = (x - half, y, x + half, y + ROW)
        assert box[0] >= -GUTTER and box[2] <= 0, f"{label!r} leaves the gutter"
        assert x_min <= box[0] and box[2] <= x_max and y_min <= box[1] and box[3] <= y_max, label
        boxes.append(box)
    for a, b in itertools.combinations(boxes, 2):
        assert a[3] <= b[1] or b[3] <= a[1] or a[2] <= b[0] or b[2] <= a[0], (a, b)
    for (start, y0), (end, y1) in strips:
        assert y0 == y1 and end - start >= MIN_BAR - 1e-5  # float32 in the recording
        assert x_min <= start - BAR_RADIUS and end + BAR_RADIUS <= x_max, (start, end)
        assert y_min <= y0 - BAR_RADIUS and y0 + BAR_RADIUS <= y_max
        assert start >= 0 and all(box[2] <= 0 for box in boxes)  # bars right of the gutter, labels left of it
    for x, y in events:
        assert 0 <= x <= TRACE_WIDTH and y_min <= y <= y_max


def test_each_span_is_a_labelled_filled_bar_in_tree_order(tmp_path, providers):
    path = tmp_path / "waterfall.rrd"
    telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=path), tracer_provider=providers.tracer_provider,
                                          meter_provider=providers.meter_provider, set_global_providers=False)
    tracer = providers.tracer_provider.get_tracer("host")
    with tracer.start_as_current_span("world.plan") as root:
        with tracer.start_as_current_span("rollout") as child:
            child.add_event("candidate scored")
            telemetry(DemoEvent("mock", "predict", "success", duration_ms=5.0))
            telemetry(DemoEvent("remote", "generate", "failure", duration_ms=1.0, message="boom"))
        root.set_status(Status(StatusCode.OK))
    telemetry(DemoEvent("mock", "score", "success", duration_ms=1.0))  # a lone span: its own trace, not drawn
    telemetry.shutdown()
    spans = {s.name: s for s in providers.spans.get_finished_spans()}
    labels, strips, colors, radii, frame, tree = last_picture(path)
    names = ["world.plan", "rollout", "predict mock", "generate remote"]  # parent first, siblings by start
    assert [label.rsplit(" ", 2)[0] for label in labels] == names
    assert labels[2] == "predict mock 5.0 ms"
    lines = tree.splitlines()
    trace_id = root.get_span_context().trace_id
    assert lines[0] == f"trace {trace_id:032x} · 4 spans"
    assert [line.strip().split(" · ")[0] for line in lines[1:] if "◆" not in line] == names
    assert lines[1].startswith("world.plan") and lines[2].startswith("  rollout") and lines[3].startswith("    ◆ ")
    assert "candidate scored" in lines[3]
    # rows top to bottom in that order, one row apart, bars filled (thick strips) and scaled to the trace
    middles = [strip[0][1] for strip in strips]
    assert all(b - a == pytest.approx(ROW) for a, b in itertools.pairwise(middles))
    assert radii == [pytest.approx(BAR_RADIUS)] * 4 and 2 * BAR_RADIUS < ROW
    drawn = [spans[name] for name in names]
    trace_start = min(s.start_time for s in drawn)
    trace_ns = max(s.end_time for s in drawn) - trace_start
    (start, _), (end, _) = strips[names.index("predict mock")]
    assert end - start == pytest.approx(max(5 * MS / trace_ns * TRACE_WIDTH, MIN_BAR), rel=1e-3)
    rollout = strips[1][0][0]
    assert rollout == pytest.approx((spans["rollout"].start_time - trace_start) / trace_ns * TRACE_WIDTH, abs=1e-3)
    assert len({int(color) for color in colors}) == 3  # ok, unset, error
    # the event: a dot on the rollout row, without text
    events = column_cells(frame, f"{PICTURE}/events", "Points2D:positions")[-1]
    assert len(events) == 1 and events[0][1] == pytest.approx(middles[1])
    assert f"{PICTURE}/events:Points2D:labels" not in frame.columns
    assert_legible(labels, label_positions(frame), strips, events)
    # each drawn trace's tree stays under its id too
    assert column_values(frame, f"/otel/traces/{trace_id:032x}/tree", "TextDocument:text")[-1] == tree


def span(trace_id: int, name: str, span_id: int, parent_id: int | None, start_ms: float, end_ms: float,
         events=()) -> ReadableSpan:  # fmt: skip
    parent = SpanContext(trace_id, parent_id, is_remote=False) if parent_id else None
    from opentelemetry.sdk.trace import Event

    return ReadableSpan(name=name, context=SpanContext(trace_id, span_id, is_remote=False), parent=parent,
                        start_time=int(start_ms * MS), end_time=int(end_ms * MS),
                        events=[Event(e, timestamp=int(t * MS)) for e, t in events])  # fmt: skip


def export(path, spans) -> None:
    exporter = RerunSpanExporter(options=RerunOptions(save_path=path))
    exporter.export(spans)
    exporter.shutdown()


def test_a_big_trace_with_long_names_and_tiny_spans_stays_legible_and_inside_the_view(tmp_path):
    trace = 0xABC
    base = 1_700_000_000_000.0
    spans = [span(trace, "GET /api/" + "very-long-segment/" * 8, 1, None, base, base + 2000,
                  events=[(f"event {i}", base + 10 * i) for i in range(40)])]  # fmt: skip
    spans += [span(trace, f"SELECT {i} FROM " + "x" * 60, 10 + i, 1, base + 50 * i, base + 50 * i + 0.001)
              for i in range(30)]  # fmt: skip
    path = tmp_path / "big.rrd"
    export(path, spans)
    labels, strips, _, _, frame, tree = last_picture(path)
    assert len(labels) == MAX_ROWS and labels[-1] == f"… {31 - (MAX_ROWS - 1)} more (Trace tree)"
    assert len(strips) == MAX_ROWS - 1  # every drawn row has a bar and a label; the last row says what is left
    assert all(len(label) <= 40 for label in labels)
    events = column_cells(frame, f"{PICTURE}/events", "Points2D:positions")[-1]
    assert len(events) == 40
    assert_legible(labels, label_positions(frame), strips, events)
    assert len(tree.splitlines()) == 1 + 31 + 40  # the tree has every span and event


def test_spans_whose_parents_loop_are_still_drawn_once(tmp_path):
    """Ids from a broken sender (collector mode takes any OTLP): a self-parent and a parent loop lose no bar."""
    trace = 0xABC
    path = tmp_path / "loops.rrd"
    export(path, [span(trace, "root", 1, None, 0, 2), span(trace, "self", 2, 2, 1, 3), span(trace, "a", 3, 4, 2, 4),
                  span(trace, "b", 4, 3, 3, 5)])  # fmt: skip
    labels, strips, _, _, frame, tree = last_picture(path)
    assert len(strips) == 4 and len({strip[0][1] for strip in strips}) == 4  # four bars, four rows
    assert [line.split(" · ")[0] for line in tree.splitlines()[1:]] == ["root", "  self", "  a", "    b"]
    assert_legible(labels, label_positions(frame), strips, [])


def test_the_picture_follows_the_time_cursor(tmp_path):
    """Each trace is drawn at its end; the picture at a moment is the trace that ended last before it."""
    path = tmp_path / "cursor.rrd"
    first = [span(0xA, "first", 1, None, 1000, 1010), span(0xA, "first.child", 2, 1, 1001, 1002)]
    second = [span(0xB, "second", 3, None, 1005, 1030), span(0xB, "second.child", 4, 3, 1006, 1020)]
    export(path, first + second)
    frame = read_rrd(path, index="worldforge_time", contents=f"{PICTURE}/**")
    times = pd.to_datetime(frame["worldforge_time"]).astype("int64").tolist()
    drawn = {t: cell for t, cell in zip(times, frame[f"{PICTURE}/labels:Points2D:labels"], strict=True)
             if cell is not None and len(cell)}  # fmt: skip
    assert {t: [label.split(" ")[0] for label in cell] for t, cell in drawn.items()} == {
        1010 * MS: ["first", "first.child"],
        1030 * MS: ["second", "second.child"],
    }
