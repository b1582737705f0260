"""The default Rerun layout of a worldforge-otel recording (a *default* blueprint: a user's own layout wins).

| View | Shows |
|---|---|
| 3D "World & plans" | ``worldforge/worlds/**`` objects and boxes, ``worldforge/plans/**`` targets and paths, the PushT tabletop |
| 2D "Trace waterfall" / "Media" / bar chart "Candidate scores" (tabs) | ``otel/traces/**`` span bars; ``worldforge/media/**``; the showcase's score bars |
| Time series "Latency (ms)" | ``duration_ms`` of provider events and other spans |
| Time series "Metrics" | ``otel/metrics/**``, benchmark numbers, the showcase's scores and latencies |
| Text log "Events & logs" | provider event lines, span lines, OTel logs |
| Documents (tabs) | world state, event payloads, plans, benchmark results and the doctor report |

Only ``rerun.blueprint`` classes present in both rerun-sdk 0.24 and 0.41 are used.
"""  # noqa: E501

from __future__ import annotations

from typing import Any

from worldforge_otel.rerun.layout import (
    BENCHMARKS_ROOT,
    EVENTS_ROOT,
    LOGS_ROOT,
    MEDIA_ROOT,
    METRICS_ROOT,
    PLANS_ROOT,
    SHOWCASE_ROOT,
    SPANS_ROOT,
    TRACES_ROOT,
    WORLDS_ROOT,
)


def _under(*roots: str) -> list[str]:
    return [f"+ /{root}/**" for root in roots]


def default_blueprint() -> Any:
    """The blueprint sent with every recording (imports rerun-sdk)."""
    import rerun.blueprint as rrb

    scene = rrb.Spatial3DView(
        name="World & plans", origin="/", contents=_under(WORLDS_ROOT, PLANS_ROOT, f"{SHOWCASE_ROOT}/tabletop")
    )
    pictures = rrb.Tabs(
        rrb.Spatial2DView(name="Trace waterfall", origin=f"/{TRACES_ROOT}"),
        rrb.Spatial2DView(name="Media", origin=f"/{MEDIA_ROOT}"),
        rrb.BarChartView(name="Candidate scores", origin=f"/{SHOWCASE_ROOT}/scores/candidates"),
    )
    series = rrb.Vertical(
        rrb.TimeSeriesView(name="Latency (ms)", origin="/", contents=_under(EVENTS_ROOT, SPANS_ROOT)),
        rrb.TimeSeriesView(
            name="Metrics",
            origin="/",
            contents=_under(METRICS_ROOT, BENCHMARKS_ROOT, f"{SHOWCASE_ROOT}/runtime", f"{SHOWCASE_ROOT}/scores"),
        ),
    )
    text = rrb.Vertical(
        rrb.TextLogView(name="Events & logs", origin="/", contents=_under(EVENTS_ROOT, SPANS_ROOT, LOGS_ROOT)),
        rrb.Tabs(
            rrb.TextDocumentView(name="World state", origin=f"/{WORLDS_ROOT}"),
            rrb.TextDocumentView(name="Event payloads", origin=f"/{EVENTS_ROOT}"),
            rrb.TextDocumentView(name="Plans", origin=f"/{PLANS_ROOT}"),
            rrb.TextDocumentView(
                name="Benchmarks & doctor", origin="/", contents=_under(BENCHMARKS_ROOT, "worldforge/diagnostics")
            ),
        ),
    )
    return rrb.Blueprint(
        rrb.Horizontal(
            rrb.Vertical(scene, pictures, row_shares=[3, 2]), rrb.Vertical(series, text), column_shares=[3, 2]
        ),
        collapse_panels=False,
    )
