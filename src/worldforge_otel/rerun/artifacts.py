"""Artifact spans (``worldforge.artifact.kind``) -> the reference design's worlds, plans, benchmarks in Rerun.

| Artifact | Entity paths | Sequence timeline |
|---|---|---|
| world | ``worldforge/worlds/<id>/state`` TextDocument, ``/objects`` Points3D, ``/object_boxes`` Boxes3D | ``worldforge_step`` = world step |
| plan | ``worldforge/plans/<provider>/<planner>/<n>/payload``, ``/action_targets`` Points3D, ``/action_path`` LineStrips3D | ``worldforge_plan`` = n |
| benchmark | ``worldforge/benchmarks/<provider>/<operation>/result`` TextDocument, one Scalars per metric, ``/latency_ms`` BarChart (min, p50, average, p95, max) | ``worldforge_benchmark_result`` |
| doctor | ``worldforge/diagnostics/doctor`` TextDocument | |
| scene | ``worldforge/<scene>/{tabletop,scores,runtime}/*`` (see :mod:`.scene`) | ``worldforge_<scene>`` |
| image (any span) | ``worldforge/media/<span name>/<name>`` EncodedImage | |

Everything is also on ``worldforge_time`` at the span's (or event's) time.
"""  # noqa: E501

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from opentelemetry.sdk.trace import Event, ReadableSpan

from worldforge_otel import semconv
from worldforge_otel.instrumentation.artifacts import MAX_IMAGE_BYTES, image_media_type
from worldforge_otel.rerun.columns import ColumnBatch, ShapeKind, triples
from worldforge_otel.rerun.documents import to_json_document
from worldforge_otel.rerun.layout import (
    BENCHMARK_TIMELINE,
    DOCTOR_PATH,
    PLAN_TIMELINE,
    STEP_TIMELINE,
    benchmark_path,
    media_path,
    path_part,
    plan_path,
    world_path,
)
from worldforge_otel.rerun.scene import add_scene
from worldforge_otel.rerun.sinks import RerunSink
from worldforge_otel.sanitize import clean_text

LATENCY_BARS: Final = ("min_latency_ms", "p50_latency_ms", "average_latency_ms", "p95_latency_ms", "max_latency_ms")
LATENCY_BARS_PATH: Final = "latency_ms"  # a benchmark result's latency distribution, one bar per LATENCY_BARS entry

OBJECT_COLOR: Final = [80, 160, 255]
TARGET_COLOR: Final = [255, 170, 40]


def is_artifact(span: ReadableSpan) -> bool:
    """Whether ``span`` was made by :class:`~worldforge_otel.instrumentation.artifacts.ArtifactRecorder`."""
    return semconv.ARTIFACT_KIND in (span.attributes or {})


def add_artifact(batch: ColumnBatch, span: ReadableSpan, sink: RerunSink) -> None:
    """Add the rows of one artifact span."""
    attributes = span.attributes or {}
    kind = attributes.get(semconv.ARTIFACT_KIND)
    time_ns = span.end_time or span.start_time or 0
    payload = _pretty(attributes.get(semconv.ARTIFACT_PAYLOAD))
    if kind == "world":
        _add_world(batch, attributes, payload, time_ns)
    elif kind == "plan":
        _add_plan(batch, attributes, payload, time_ns, sink.next_sequence(1, PLAN_TIMELINE))
    elif kind == "benchmark":
        for event in span.events:
            if event.name == semconv.BENCHMARK_RESULT_EVENT:
                index = sink.next_sequence(1, BENCHMARK_TIMELINE)
                _add_benchmark_result(batch, event.attributes or {}, event.timestamp or time_ns, index)
    elif kind == "scene":
        add_scene(batch, attributes, time_ns, sink)
    elif kind == "doctor" and payload is not None:
        batch.document(DOCTOR_PATH, payload, time_ns=time_ns)


def add_media(batch: ColumnBatch, span: ReadableSpan, attributes: Mapping[str, Any] | None = None,
              events: Sequence[Event] | None = None) -> int:
    """Add an EncodedImage for every ``worldforge.image.data`` (a PNG/JPEG data URI) on the span or its events.

    Only that attribute is looked at: scanning every string of every span for images cost ~15% of an export.
    """
    values = attributes if attributes is not None else span.attributes or {}
    events = span.events if events is None else events  # the SDK copies them at each read: callers pass them
    if not events and semconv.IMAGE_DATA not in values:
        return 0  # most spans: no image
    found = 0
    sources: list[tuple[Mapping[str, Any], int, str]] = [(values, span.end_time or 0, "")]
    sources += [(event.attributes or {}, event.timestamp, event.name) for event in events]
    for values, time_ns, event_name in sources:
        value = values.get(semconv.IMAGE_DATA)
        media_type = image_media_type(value) if isinstance(value, str) else None
        if media_type is None:
            continue
        contents = _decode_data_uri(value)  # type: ignore[arg-type]  # a str: checked above
        if contents is None:
            continue
        name = str(values.get(semconv.IMAGE_NAME) or event_name or semconv.IMAGE_DATA)
        batch.shape(media_path(span.name, name), ShapeKind.ENCODED_IMAGE, time_ns=time_ns or span.end_time or 0,
                    contents=contents, media_type=media_type)  # fmt: skip
        found += 1
    return found


def _decode_data_uri(value: str) -> bytes | None:
    try:
        contents = base64.b64decode(value.split(",", 1)[1], validate=True)
    except (ValueError, IndexError):
        return None  # cut by an attribute length limit, or not base64
    return contents if 0 < len(contents) <= MAX_IMAGE_BYTES else None


def _pretty(payload: object) -> str | None:
    if not isinstance(payload, str):
        return None
    try:
        return to_json_document(json.loads(payload))
    except ValueError:
        return payload  # cut by OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: shown as it is (it carries the marker)


def _labels(values: object, count: int) -> list[str]:
    names = [clean_text(str(v), max_chars=128) for v in values] if isinstance(values, Sequence) else []
    return (names + [""] * count)[:count]


def _add_world(batch: ColumnBatch, attributes: Mapping[str, Any], payload: str | None, time_ns: int) -> None:
    base = world_path(str(attributes.get(semconv.WORLD_ID) or "world"))
    step_value = attributes.get(semconv.WORLD_STEP)
    step = {STEP_TIMELINE: step_value if isinstance(step_value, int) else 0}
    if payload is not None:
        batch.document(f"{base}/state", payload, time_ns=time_ns, sequence=step[STEP_TIMELINE], timeline=STEP_TIMELINE)
    positions = triples(attributes.get(semconv.WORLD_OBJECT_POSITIONS))
    labels = _labels(attributes.get(semconv.WORLD_OBJECT_NAMES), len(positions))
    mins = triples(attributes.get(semconv.WORLD_BOX_MINS))
    maxs = triples(attributes.get(semconv.WORLD_BOX_MAXS))
    centers = [[(lo + hi) / 2 for lo, hi in zip(a, b, strict=True)] for a, b in zip(mins, maxs, strict=False)]
    half_sizes = [[abs(hi - lo) / 2 for lo, hi in zip(a, b, strict=True)] for a, b in zip(mins, maxs, strict=False)]
    box_labels = _labels(attributes.get(semconv.WORLD_BOX_NAMES), len(centers))
    moved = _boxes_with_their_objects(centers, half_sizes, box_labels, dict(zip(labels, positions, strict=False)))
    point_labels = [f"{label} (bbox moved to it)" if label in moved else label for label in labels]
    batch.shape(f"{base}/objects", ShapeKind.POINTS3D, time_ns=time_ns, sequences=step, positions=positions,
                labels=point_labels, colors=[OBJECT_COLOR] * len(positions), radii=[0.02] * len(positions))  # fmt: skip
    batch.shape(f"{base}/object_boxes", ShapeKind.BOXES3D, time_ns=time_ns, sequences=step, centers=centers,
                half_sizes=half_sizes, labels=[label if label not in moved else "" for label in box_labels],
                colors=[OBJECT_COLOR] * len(centers))  # fmt: skip


def _boxes_with_their_objects(
    centers: list[list[float]], half_sizes: list[list[float]], labels: list[str], positions: dict[str, list[float]]
) -> set[str]:
    """Draw a box around its object when the object's pose lies outside its bbox; returns the names moved.

    Some providers move an object's pose and leave its bbox where it was (worldforge-ai's mock does): the box
    would float far from the object. Its size is kept and its centre put on the pose; the object's label says so
    (the box's own label, at the same place, is left empty).
    """
    moved: set[str] = set()
    for index, label in enumerate(labels):
        position = positions.get(label)
        if position is None or len(position) != 3:
            continue
        center, half = centers[index], half_sizes[index]
        if all(abs(p - c) <= h + 1e-9 for p, c, h in zip(position, center, half, strict=True)):
            continue
        centers[index] = list(position)
        moved.add(label)
    return moved


def _add_plan(
    batch: ColumnBatch, attributes: Mapping[str, Any], payload: str | None, time_ns: int, number: int
) -> None:
    provider = str(attributes.get(semconv.PLAN_PROVIDER) or "unknown")
    planner = str(attributes.get(semconv.PLAN_PLANNER) or "unknown")
    base = plan_path(provider, planner, number)
    sequence = {PLAN_TIMELINE: number}
    if payload is not None:
        batch.document(f"{base}/payload", payload, time_ns=time_ns, sequence=number, timeline=PLAN_TIMELINE)
    targets = triples(attributes.get(semconv.PLAN_TARGETS))
    batch.shape(f"{base}/action_targets", ShapeKind.POINTS3D, time_ns=time_ns, sequences=sequence, positions=targets,
                labels=[f"{i + 1}" for i in range(len(targets))], colors=[TARGET_COLOR] * len(targets),
                radii=[0.025] * len(targets))  # fmt: skip
    if len(targets) >= 2:
        batch.shape(f"{base}/action_path", ShapeKind.LINE_STRIPS3D, time_ns=time_ns, sequences=sequence,
                    strips=[targets], colors=[TARGET_COLOR])  # fmt: skip


def _add_benchmark_result(batch: ColumnBatch, attributes: Mapping[str, Any], time_ns: int, index: int) -> None:
    base = benchmark_path(str(attributes.get(semconv.PROVIDER)), str(attributes.get(semconv.OPERATION)))
    payload = _pretty(attributes.get(semconv.ARTIFACT_PAYLOAD))
    if payload is not None:
        batch.document(f"{base}/result", payload, time_ns=time_ns, sequence=index, timeline=BENCHMARK_TIMELINE)
    for key, value in attributes.items():
        if key.startswith(semconv.BENCHMARK_METRIC_PREFIX) and isinstance(value, int | float):
            metric = path_part(key[len(semconv.BENCHMARK_METRIC_PREFIX) :])
            batch.scalar(f"{base}/{metric}", float(value), time_ns=time_ns, sequence=index, timeline=BENCHMARK_TIMELINE)
    latencies = [attributes.get(f"{semconv.BENCHMARK_METRIC_PREFIX}{name}") for name in LATENCY_BARS]
    bars = [float(v) for v in latencies if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)]
    if len(bars) == len(LATENCY_BARS):
        # Each result's bars on x positions of their own (rerun-sdk >= 0.41 takes abscissa; older ones draw
        # results over each other), so two results are two groups side by side, not one stacked chart.
        first = index * (len(LATENCY_BARS) + 1)
        batch.benchmark_charts.append(f"{base}/{LATENCY_BARS_PATH}")
        batch.shape(f"{base}/{LATENCY_BARS_PATH}", ShapeKind.BAR_CHART, time_ns=time_ns,
                    sequences={BENCHMARK_TIMELINE: index}, values=bars,
                    abscissa=[float(first + i) for i in range(len(bars))])  # fmt: skip
