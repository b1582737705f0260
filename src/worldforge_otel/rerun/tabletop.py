"""Tabletop artifact spans (``record_tabletop``, the PushT showcase) -> ``worldforge/robotics_showcase/*``.

| Entity path | Archetype | Shows |
|---|---|---|
| ``tabletop/table`` | LineStrips3D | the table's edge |
| ``tabletop/goal`` / ``tabletop/block`` | LineStrips3D | the goal pose and the block's pose (outlines at z=0) |
| ``tabletop/agent`` | Points3D | the pusher, drawn at its radius |
| ``tabletop/candidates`` / ``tabletop/selected`` | LineStrips3D | every candidate path; the chosen one highlighted |
| ``scores/candidates`` | BarChart | one bar per candidate |
| ``scores/selected_index``, ``scores/<metric>`` | Scalars | the choice and the step's numbers (pose error, ...) |
| ``scores/candidate_score`` | Scalars | every candidate's score on ``worldforge_candidate`` |
| ``runtime/<name>_ms`` | Scalars | latencies of the step's calls |

Rows are on ``worldforge_robotics_showcase`` (the step) and ``worldforge_time``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from worldforge_otel import semconv
from worldforge_otel.rerun.columns import ColumnBatch, ShapeKind, triples
from worldforge_otel.rerun.layout import CANDIDATE_TIMELINE, SHOWCASE_ROOT, SHOWCASE_TIMELINE, path_part
from worldforge_otel.rerun.sinks import RerunSink

TABLE_COLOR: Final = [150, 150, 150]
GOAL_COLOR: Final = [60, 200, 90]
BLOCK_COLOR: Final = [110, 130, 160]
AGENT_COLOR: Final = [65, 105, 225]
CANDIDATE_COLOR: Final = [200, 200, 200, 110]
SELECTED_COLOR: Final = [255, 140, 0]
SELECTED_LIFT: Final = 0.004  # m above the table and the candidates


def add_tabletop(batch: ColumnBatch, attributes: Mapping[str, Any], time_ns: int, sink: RerunSink) -> None:
    """Add the rows of one tabletop step."""
    step_value = attributes.get(semconv.TABLETOP_STEP)
    step = step_value if isinstance(step_value, int) else 0
    on_step = {SHOWCASE_TIMELINE: step}
    base = f"{SHOWCASE_ROOT}/tabletop"

    def strip(name: str, points: list[list[float]], color: list[int], radius: float) -> None:
        if len(points) >= 2:
            batch.shape(f"{base}/{name}", ShapeKind.LINE_STRIPS3D, time_ns=time_ns, sequences=on_step,
                        strips=[points + points[:1]], colors=[color], radii=[radius])  # fmt: skip

    bounds = [float(v) for v in attributes.get(semconv.TABLETOP_BOUNDS) or []]
    if len(bounds) == 4:
        x0, y0, x1, y1 = bounds
        strip("table", [[x0, y0, 0.0], [x1, y0, 0.0], [x1, y1, 0.0], [x0, y1, 0.0]], TABLE_COLOR, 0.002)
    strip("goal", triples(attributes.get(semconv.TABLETOP_GOAL)), GOAL_COLOR, 0.003)
    strip("block", triples(attributes.get(semconv.TABLETOP_BLOCK)), BLOCK_COLOR, 0.004)
    agent = triples(attributes.get(semconv.TABLETOP_AGENT))
    if agent:
        radius = float(attributes.get(semconv.TABLETOP_AGENT_RADIUS) or 0.01)
        batch.shape(f"{base}/agent", ShapeKind.POINTS3D, time_ns=time_ns, sequences=on_step, positions=agent[:1],
                    radii=[radius], colors=[AGENT_COLOR])  # fmt: skip
    paths = _split(triples(attributes.get(semconv.TABLETOP_PATHS)), attributes.get(semconv.TABLETOP_PATH_LENGTHS))
    selected_value = attributes.get(semconv.TABLETOP_SELECTED)
    selected = selected_value if isinstance(selected_value, int) else -1
    rounds = [r if isinstance(r, int) else 0 for r in attributes.get(semconv.TABLETOP_ROUNDS) or []]
    batch.shape(f"{base}/candidates", ShapeKind.LINE_STRIPS3D, time_ns=time_ns, sequences=on_step, strips=paths,
                colors=_by_round(rounds, len(paths)), radii=[0.001] * len(paths))  # fmt: skip
    if 0 <= selected < len(paths):
        # above the candidates it is one of (same points otherwise: it would hide among them) and thicker
        chosen = [[x, y, z + SELECTED_LIFT] for x, y, z in paths[selected]]
        batch.shape(f"{base}/selected", ShapeKind.LINE_STRIPS3D, time_ns=time_ns, sequences=on_step,
                    strips=[chosen], colors=[SELECTED_COLOR], radii=[0.006])  # fmt: skip
    _add_scores(batch, attributes, time_ns, step=step, selected=selected, sink=sink)


def _by_round(rounds: list[int], count: int) -> list[list[int]]:
    """Candidate colours: the last search round's as :data:`CANDIDATE_COLOR`, earlier rounds fainter."""
    if not rounds or len(rounds) != count:
        return [CANDIDATE_COLOR] * count
    last = max(*rounds, 1)
    alpha = CANDIDATE_COLOR[3]
    return [[*CANDIDATE_COLOR[:3], int(alpha * (0.3 + 0.7 * max(r, 1) / last))] for r in rounds]


def _add_scores(
    batch: ColumnBatch, attributes: Mapping[str, Any], time_ns: int, *, step: int, selected: int, sink: RerunSink
) -> None:
    scores = [float(v) for v in attributes.get(semconv.TABLETOP_SCORES) or []]
    base = f"{SHOWCASE_ROOT}/scores"
    if scores:
        finite = [v if math.isfinite(v) else 0.0 for v in scores]
        batch.shape(f"{base}/candidates", ShapeKind.BAR_CHART, time_ns=time_ns, sequences={SHOWCASE_TIMELINE: step},
                    values=finite)  # fmt: skip
        first = sink.next_sequence(len(scores), CANDIDATE_TIMELINE)
        for offset, value in enumerate(scores):
            if math.isfinite(value):
                batch.scalar(f"{base}/candidate_score", value, time_ns=time_ns, sequence=first + offset,
                             timeline=CANDIDATE_TIMELINE)  # fmt: skip
    if selected >= 0:
        batch.scalar(f"{base}/selected_index", float(selected), time_ns=time_ns, sequence=step,
                     timeline=SHOWCASE_TIMELINE)  # fmt: skip
    for prefix, root, suffix in ((semconv.TABLETOP_METRIC_PREFIX, base, ""),
                                 (semconv.TABLETOP_LATENCY_PREFIX, f"{SHOWCASE_ROOT}/runtime", "_ms")):  # fmt: skip
        for key, value in attributes.items():
            if key.startswith(prefix) and isinstance(value, int | float) and not isinstance(value, bool):
                name = path_part(key[len(prefix) :]) + suffix
                batch.scalar(f"{root}/{name}", float(value), time_ns=time_ns, sequence=step, timeline=SHOWCASE_TIMELINE)


def _split(points: list[list[float]], lengths: object) -> list[list[list[float]]]:
    paths: list[list[list[float]]] = []
    start = 0
    for length in lengths if isinstance(lengths, Sequence) else []:
        paths.append(points[start : start + int(length)])
        start += int(length)
    return paths
