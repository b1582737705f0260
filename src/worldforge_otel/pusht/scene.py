"""One PushT planning step as a scene artifact (``record_scene``): what the core draws of the showcase.

The scene is ``robotics_showcase`` (the reference design's ``worldforge/robotics_showcase/*`` paths and
``worldforge_robotics_showcase`` timeline). Outlines: the table's edge, the goal pose, the T after the step;
the agent is a marker at its radius; the candidates are the paths from the agent, each round's, with the
chosen one; coordinates in meters (1 table unit = 1 mm).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from worldforge_otel.pusht.task import (
    AGENT_RADIUS,
    GOAL_POSE,
    METERS_PER_UNIT,
    TABLE_BOUNDS,
    Point,
    TabletopState,
    t_outline,
)

SCENE: Final = "robotics_showcase"
TABLE_COLOR: Final = [150, 150, 150]
GOAL_COLOR: Final = [60, 200, 90]
BLOCK_COLOR: Final = [110, 130, 160]
AGENT_COLOR: Final = [65, 105, 225]


def meters(point: Sequence[float]) -> list[float]:
    """A table point as ``[x, y, 0]`` in meters."""
    return [point[0] * METERS_PER_UNIT, point[1] * METERS_PER_UNIT, 0.0]


def scene_snapshot(
    before: TabletopState,
    after: TabletopState,
    chunks: list[list[Point]],
    scores: list[float],
    *,
    step: int,
    selected_index: int,
    metrics: dict[str, float],
    latency_ms: dict[str, float],
    candidate_rounds: list[int] | None = None,
) -> dict[str, Any]:
    """The ``record_scene`` document of a step: the scene after it, the candidates from the state before it."""
    x0, y0, x1, y1 = TABLE_BOUNDS
    table = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    return {
        "scene": SCENE,
        "step": step,
        "outlines": {
            "table": {"points": [meters(p) for p in table], "color": TABLE_COLOR, "width": 0.002},
            "goal": {"points": [meters(p) for p in t_outline(GOAL_POSE)], "color": GOAL_COLOR, "width": 0.003},
            "block": {"points": [meters(p) for p in t_outline(after.block)], "color": BLOCK_COLOR, "width": 0.004},
        },
        "markers": {
            "agent": {"position": meters(after.agent), "radius": AGENT_RADIUS * METERS_PER_UNIT, "color": AGENT_COLOR},
        },
        "candidates": [[meters(before.agent), *(meters(p) for p in chunk)] for chunk in chunks],
        "candidate_rounds": candidate_rounds or [],
        "scores": scores,
        "selected_index": selected_index,
        "lower_is_better": True,
        "metrics": metrics,
        "latency_ms": latency_ms,
    }
