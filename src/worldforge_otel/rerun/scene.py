"""Scene artifact spans (``record_scene``: one step of a planning run) -> ``worldforge/<scene>/*``.

| Entity path | Archetype | Shows |
|---|---|---|
| ``tabletop/<outline>`` | LineStrips3D | each named outline (closed), in its colour and width |
| ``tabletop/<marker>`` | Points3D | each named marker, at its radius and colour |
| ``tabletop/candidates`` / ``tabletop/selected`` | LineStrips3D | every candidate path (fainter the earlier its search round); the chosen one highlighted |
| ``scores/candidates`` | BarChart | one bar per candidate |
| ``scores/selected_index``, ``scores/<metric>`` | Scalars | the choice and the step's numbers |
| ``scores/candidate_score`` | Scalars | every candidate's score on ``worldforge_candidate`` |
| ``runtime/<name>_ms`` | Scalars | latencies of the step's calls |

Rows are on ``worldforge_<scene>`` (the step) and ``worldforge_time``. (``tabletop`` is the reference design's
name for where a scene is drawn; the PushT showcase's scene is ``robotics_showcase``.)
"""  # noqa: E501

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from worldforge_otel import semconv
from worldforge_otel.rerun.columns import ColumnBatch, ShapeKind, triples
from worldforge_otel.rerun.layout import CANDIDATE_TIMELINE, path_part, scene_root, scene_timeline
from worldforge_otel.rerun.sinks import RerunSink

CANDIDATE_COLOR: Final = [200, 200, 200, 110]
SELECTED_COLOR: Final = [255, 140, 0]
SELECTED_LIFT: Final = 0.004  # m above the candidates (and a table at z = 0)


def add_scene(batch: ColumnBatch, attributes: Mapping[str, Any], time_ns: int, sink: RerunSink) -> None:
    """Add the rows of one scene step."""
    name = str(attributes.get(semconv.SCENE_NAME) or "scene")
    root, timeline = scene_root(name), scene_timeline(name)
    step_value = attributes.get(semconv.SCENE_STEP)
    step = step_value if isinstance(step_value, int) else 0
    on_step = {timeline: step}
    base = f"{root}/tabletop"
    outline_names = attributes.get(semconv.SCENE_OUTLINE_NAMES) or []
    outlines = _split(triples(attributes.get(semconv.SCENE_OUTLINE_POINTS)),
                      attributes.get(semconv.SCENE_OUTLINE_LENGTHS))  # fmt: skip
    outline_colors = _rgbs(attributes.get(semconv.SCENE_OUTLINE_COLORS))
    widths = list(attributes.get(semconv.SCENE_OUTLINE_WIDTHS) or [])
    for index, (label, points) in enumerate(zip(outline_names, outlines, strict=False)):
        if len(points) >= 2:
            batch.shape(f"{base}/{path_part(str(label))}", ShapeKind.LINE_STRIPS3D, time_ns=time_ns,
                        sequences=on_step,
                        strips=[points + points[:1]], colors=[_at(outline_colors, index)],
                        radii=[float(widths[index]) if index < len(widths) else 0.002])  # fmt: skip
    positions = triples(attributes.get(semconv.SCENE_MARKER_POSITIONS))
    radii = list(attributes.get(semconv.SCENE_MARKER_RADII) or [])
    marker_colors = _rgbs(attributes.get(semconv.SCENE_MARKER_COLORS))
    marker_names = attributes.get(semconv.SCENE_MARKER_NAMES) or []
    for index, (label, position) in enumerate(zip(marker_names, positions, strict=False)):
        batch.shape(f"{base}/{path_part(str(label))}", ShapeKind.POINTS3D, time_ns=time_ns, sequences=on_step,
                    positions=[position], radii=[float(radii[index]) if index < len(radii) else 0.01],
                    colors=[_at(marker_colors, index)])  # fmt: skip
    paths = _split(triples(attributes.get(semconv.SCENE_PATHS)), attributes.get(semconv.SCENE_PATH_LENGTHS))
    selected_value = attributes.get(semconv.SCENE_SELECTED)
    selected = selected_value if isinstance(selected_value, int) else -1
    rounds = [r if isinstance(r, int) else 0 for r in attributes.get(semconv.SCENE_ROUNDS) or []]
    batch.shape(f"{base}/candidates", ShapeKind.LINE_STRIPS3D, time_ns=time_ns, sequences=on_step, strips=paths,
                colors=_by_round(rounds, len(paths)), radii=[0.001] * len(paths))  # fmt: skip
    if 0 <= selected < len(paths):
        # above the candidates it is one of (same points otherwise: it would hide among them) and thicker
        chosen = [[x, y, z + SELECTED_LIFT] for x, y, z in paths[selected]]
        batch.shape(f"{base}/selected", ShapeKind.LINE_STRIPS3D, time_ns=time_ns, sequences=on_step,
                    strips=[chosen], colors=[SELECTED_COLOR], radii=[0.006])  # fmt: skip
    _add_scores(batch, attributes, time_ns, root=root, timeline=timeline, step=step, selected=selected, sink=sink)


def _rgbs(flat: object) -> list[list[int]]:
    values = [int(v) for v in flat] if isinstance(flat, Sequence) and not isinstance(flat, str) else []
    return [values[i : i + 3] for i in range(0, len(values) - len(values) % 3, 3)]


def _at(colors: list[list[int]], index: int) -> list[int]:
    return colors[index] if index < len(colors) else [150, 150, 150]


def _by_round(rounds: list[int], count: int) -> list[list[int]]:
    """Candidate colours: the last search round's as :data:`CANDIDATE_COLOR`, earlier rounds fainter."""
    if not rounds or len(rounds) != count:
        return [CANDIDATE_COLOR] * count
    last = max(*rounds, 1)
    alpha = CANDIDATE_COLOR[3]
    return [[*CANDIDATE_COLOR[:3], int(alpha * (0.3 + 0.7 * max(r, 1) / last))] for r in rounds]


def _add_scores(
    batch: ColumnBatch,
    attributes: Mapping[str, Any],
    time_ns: int,
    *,
    root: str,
    timeline: str,
    step: int,
    selected: int,
    sink: RerunSink,
) -> None:
    scores = [float(v) for v in attributes.get(semconv.SCENE_SCORES) or []]
    base = f"{root}/scores"
    if scores:
        finite = [v if math.isfinite(v) else 0.0 for v in scores]
        batch.shape(f"{base}/candidates", ShapeKind.BAR_CHART, time_ns=time_ns, sequences={timeline: step},
                    values=finite)  # fmt: skip
        first = sink.next_sequence(len(scores), CANDIDATE_TIMELINE)
        for offset, value in enumerate(scores):
            if math.isfinite(value):
                batch.scalar(f"{base}/candidate_score", value, time_ns=time_ns, sequence=first + offset,
                             timeline=CANDIDATE_TIMELINE)  # fmt: skip
    if selected >= 0:
        batch.scalar(f"{base}/selected_index", float(selected), time_ns=time_ns, sequence=step, timeline=timeline)
    for prefix, where, suffix in ((semconv.SCENE_METRIC_PREFIX, base, ""),
                                  (semconv.SCENE_LATENCY_PREFIX, f"{root}/runtime", "_ms")):  # fmt: skip
        for key, value in attributes.items():
            if key.startswith(prefix) and isinstance(value, int | float) and not isinstance(value, bool):
                name = path_part(key[len(prefix) :]) + suffix
                batch.scalar(f"{where}/{name}", float(value), time_ns=time_ns, sequence=step, timeline=timeline)


def _split(points: list[list[float]], lengths: object) -> list[list[list[float]]]:
    paths: list[list[list[float]]] = []
    start = 0
    for length in lengths if isinstance(lengths, Sequence) else []:
        paths.append(points[start : start + int(length)])
        start += int(length)
    return paths
