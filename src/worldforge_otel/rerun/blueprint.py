"""The Rerun layouts of a worldforge-otel recording, sent as the *default* blueprint (a user's own layout wins).

:func:`default_blueprint` (every recording unless told otherwise):

| Where | Shows |
|---|---|
| 3D "World & plans" (top left) | ``worldforge/worlds/**`` objects and boxes, ``worldforge/plans/**`` targets and paths |
| "Spans over time" under it (rerun-sdk >= 0.32) | ``otel/lanes/**``: a lane per service and span name on the time panel's clock |
| Below it | tabs "Trace waterfall" (the trace at the time cursor) and "Media"; "Benchmark ms" bars |
| Tabs top right | time series "Latency (ms)" (``duration_ms`` of events and spans) and "Metrics" |
| Text log "Events & logs" | provider event lines, span lines, OTel logs |
| Document tabs | "Trace tree", world state, event payloads, plans, benchmark results and the doctor report |

The view helpers (:func:`text_log_view`, :func:`lanes_view`, :func:`waterfall_view`, :func:`trace_tree_view`,
:func:`panels`, :func:`stacked`) are building blocks for other layouts, e.g. the PushT showcase's
(``worldforge_otel.pusht.blueprint``).

Both open with the side panels collapsed and, where the viewer supports it (rerun-sdk >= 0.25), the time
cursor following the end of the data, so the first picture is the finished run. Only ``rerun.blueprint``
classes present in both rerun-sdk 0.24 and 0.41 are used; newer keywords are passed only when accepted.
"""  # noqa: E501

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from worldforge_otel.rerun.layout import (
    BENCHMARKS_ROOT,
    EVENTS_ROOT,
    LANES_ROOT,
    LOGS_ROOT,
    MEDIA_ROOT,
    METRICS_ROOT,
    PLANS_ROOT,
    SPANS_ROOT,
    TIME_TIMELINE,
    WATERFALL_PATH,
    WORLDS_ROOT,
)
from worldforge_otel.rerun.waterfall import VIEW_BOUNDS


def _under(*roots: str) -> list[str]:
    return [f"+ /{root}/**" for root in roots]


def accepted(factory: Callable[..., Any], **keywords: Any) -> Any:
    """``factory(**keywords)`` without the keywords this rerun-sdk does not know (newer ones are optional)."""
    known = _parameters(factory)
    return factory(**(keywords if known.issuperset(keywords) else {k: v for k, v in keywords.items() if k in known}))


@functools.cache  # archetypes are built per row on the export thread: read each signature once
def _parameters(factory: Callable[..., Any]) -> frozenset[str]:
    return frozenset(inspect.signature(factory).parameters)


def panels(rrb: Any, *, timeline: str | None = None) -> list[Any]:
    """Side panels collapsed; the time panel small, on ``timeline``, with the cursor following the newest data."""
    time_panel = accepted(rrb.TimePanel, state="collapsed", timeline=timeline, play_state="following")
    return [rrb.BlueprintPanel(state="collapsed"), rrb.SelectionPanel(state="collapsed"), time_panel]


def text_log_view(rrb: Any) -> Any:
    """Time, level and the line (rerun-sdk >= 0.41 hides the entity path: the line names its source)."""
    columns = None
    if hasattr(rrb, "TextLogColumns"):  # rerun-sdk >= 0.41
        from rerun.blueprint.encodings import TextLogColumn, TimelineColumn

        columns = rrb.TextLogColumns(
            timeline_columns=[TimelineColumn(TIME_TIMELINE)],
            text_log_columns=[TextLogColumn("LogLevel"), TextLogColumn("Body"),
                              TextLogColumn("EntityPath", visible=False)],
        )  # fmt: skip
    return accepted(rrb.TextLogView, name="Events & logs", origin="/", columns=columns,
                     contents=_under(EVENTS_ROOT, SPANS_ROOT, LOGS_ROOT))  # fmt: skip


def waterfall_view(rrb: Any) -> Any:
    """The latest trace at the time cursor, framed on the picture's fixed bounds (nothing drawn lies outside)."""
    (x_range, y_range) = VIEW_BOUNDS
    bounds = rrb.VisualBounds2D(x_range=x_range, y_range=y_range)
    return rrb.Spatial2DView(name="Trace waterfall", origin=f"/{WATERFALL_PATH}", visual_bounds=bounds)


def lanes_view(rrb: Any) -> Any | None:
    """The spans as lanes over time (rerun-sdk >= 0.32 has the view); None where the viewer cannot draw them."""
    view = getattr(rrb, "StateTimelineView", None)
    return view(name="Spans over time", origin=f"/{LANES_ROOT}") if view is not None else None


def stacked(rrb: Any, *views_and_shares: tuple[Any | None, float]) -> Any:
    """A Vertical of the views that exist, with their row shares."""
    present = [(view, share) for view, share in views_and_shares if view is not None]
    return rrb.Vertical(*(view for view, _ in present), row_shares=[share for _, share in present])


def trace_tree_view(rrb: Any) -> Any:
    """The span tree of the trace in the waterfall."""
    return rrb.TextDocumentView(name="Trace tree", origin=f"/{WATERFALL_PATH}")


def _benchmark_charts(rrb: Any, charts: Sequence[str]) -> Any:
    """One bar chart per benchmark result (min p50 avg p95 max, ms) titled by its provider and operation.

    Several are tabs; before any result there is one chart of the benchmarks root.
    """
    no_legend = rrb.PlotLegend(visible=False)  # one series per chart: the title names it
    if not charts:
        return rrb.BarChartView(name="Benchmark ms", origin=f"/{BENCHMARKS_ROOT}", plot_legend=no_legend)
    views = [rrb.BarChartView(name=f"{_result_name(chart)} ms", origin=f"/{chart}", plot_legend=no_legend)
             for chart in charts]  # fmt: skip
    return views[0] if len(views) == 1 else rrb.Tabs(*views)


def _result_name(chart: str) -> str:
    """``worldforge/benchmarks/mock/predict/latency_ms`` -> ``mock.predict``."""
    parts = chart.split("/")
    return ".".join(parts[2:-1]) or chart


def default_blueprint(benchmark_charts: Sequence[str] = ()) -> Any:
    """The blueprint sent with every recording (imports rerun-sdk); one chart per benchmark result given."""
    import rerun.blueprint as rrb

    scene = rrb.Spatial3DView(name="World & plans", origin="/", contents=_under(WORLDS_ROOT, PLANS_ROOT))
    pictures = rrb.Horizontal(
        rrb.Tabs(waterfall_view(rrb), rrb.Spatial2DView(name="Media", origin=f"/{MEDIA_ROOT}")),
        _benchmark_charts(rrb, benchmark_charts),
        column_shares=[3, 2],
    )
    legend = rrb.PlotLegend(visible=False)  # it covered the data in these panels; hovering a line names it
    series = rrb.Tabs(
        rrb.TimeSeriesView(name="Latency (ms)", origin="/", contents=_under(EVENTS_ROOT, SPANS_ROOT),
                           plot_legend=legend),
        rrb.TimeSeriesView(name="Metrics", origin="/", contents=_under(METRICS_ROOT, BENCHMARKS_ROOT),
                           plot_legend=legend),
    )  # fmt: skip
    documents = rrb.Tabs(
        trace_tree_view(rrb),
        rrb.TextDocumentView(name="World state", origin=f"/{WORLDS_ROOT}"),
        rrb.TextDocumentView(name="Event payloads", origin=f"/{EVENTS_ROOT}"),
        rrb.TextDocumentView(name="Plans", origin=f"/{PLANS_ROOT}"),
        rrb.TextDocumentView(
            name="Benchmarks & doctor", origin="/", contents=_under(BENCHMARKS_ROOT, "worldforge/diagnostics")
        ),
    )
    return rrb.Blueprint(
        rrb.Horizontal(
            stacked(rrb, (scene, 4), (lanes_view(rrb), 2), (pictures, 4)),
            rrb.Vertical(text_log_view(rrb), series, documents, row_shares=[2, 2, 2]),
            column_shares=[3, 2],
        ),
        *panels(rrb),
    )
