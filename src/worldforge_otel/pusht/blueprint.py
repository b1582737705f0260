"""The PushT showcase's Rerun layout: the tabletop from above, the search's candidates and scores, the trace.

Sent as the recording's default blueprint by ``worldforge-otel pusht`` (``RerunOptions(blueprint=...)``), on the
``worldforge_time`` timeline (which every row has, the text log's included). Built from the core layout's view
helpers (:mod:`worldforge_otel.rerun.blueprint`); imports rerun-sdk only when called.
"""

from __future__ import annotations

import inspect
from typing import Any, Final

from worldforge_otel.pusht.scene import SCENE
from worldforge_otel.rerun.blueprint import (
    lanes_view,
    panels,
    stacked,
    text_log_view,
    trace_tree_view,
    waterfall_view,
)
from worldforge_otel.rerun.layout import TIME_TIMELINE, scene_root

TABLE_CENTER: Final = (0.256, 0.256)  # the PushT table is 0.512 m square (see worldforge_otel.pusht.task)


def showcase_blueprint() -> Any:
    """The PushT showcase's layout: the tabletop from above next to the planner's scores (imports rerun-sdk)."""
    import rerun.blueprint as rrb

    x, y = TABLE_CENTER
    from_above: dict[str, Any] = {}
    if "position" in inspect.signature(rrb.EyeControls3D).parameters:  # rerun-sdk >= 0.25 places the camera
        eye = rrb.EyeControls3D(position=[x, y - 0.04, 0.5], look_target=[x, y, 0.0], eye_up=[0.0, 0.0, 1.0])
        from_above["eye_controls"] = eye
    tabletop = rrb.Spatial3DView(
        name="Tabletop (goal green, block blue, candidates grey by search round, chosen orange)",
        origin=f"/{scene_root(SCENE)}/tabletop",
        line_grid=rrb.LineGrid3D(visible=False),
        **from_above,
    )
    scores = f"/{scene_root(SCENE)}/scores"
    right = rrb.Vertical(
        rrb.BarChartView(
            name="Candidate scores (lower is better)",
            origin=f"{scores}/candidates",
            plot_legend=rrb.PlotLegend(visible=False),
        ),
        rrb.Tabs(
            rrb.TimeSeriesView(name="Goal coverage (success at 0.95)", origin=scores, contents=["$origin/coverage"],
                               plot_legend=rrb.PlotLegend(visible=False)),
            rrb.TimeSeriesView(
                name="Pose error (executed, predicted)",
                origin=scores,
                contents=["$origin/pose_error", "$origin/predicted_pose_error"],
                plot_legend=rrb.PlotLegend(corner=rrb.Corner2D.RightTop),  # the error falls: the top right is free
            ),
        ),
        rrb.TimeSeriesView(name="Step latency (ms): score, policy, execute", origin=f"/{scene_root(SCENE)}/runtime",
                           plot_legend=rrb.PlotLegend(visible=False)),  # it covered the lines; hovering names one
        rrb.Tabs(trace_tree_view(rrb), waterfall_view(rrb)),
        row_shares=[2, 2, 2, 2],
    )
    return rrb.Blueprint(
        rrb.Horizontal(
            stacked(rrb, (tabletop, 3), (lanes_view(rrb), 1), (text_log_view(rrb), 1)), right, column_shares=[3, 2]
        ),
        *panels(rrb, timeline=TIME_TIMELINE),
    )
