"""Worlds, plans, benchmark and doctor reports and images as OpenTelemetry spans, so every backend sees them.

Usage::

    telemetry = worldforge_otel.configure()
    telemetry.artifacts.record_world(world)                # a worldforge World, or its to_dict() output
    telemetry.artifacts.record_plan(plan, provider="mock", planner="cem")
    telemetry.artifacts.record_benchmark(report)           # BenchmarkReport (one span event per result)
    telemetry.artifacts.record_doctor(forge.doctor())
    telemetry.artifacts.record_image("camera", png_bytes)  # PNG/JPEG bytes or a data: URI
    telemetry.artifacts.record_scene({...})               # one step of a planning run drawn in 3D (see the method)

Each call is one short ``INTERNAL`` span (a child of the current span) named ``worldforge.<kind>``. It carries
the sanitized JSON payload (``worldforge.artifact.payload``, capped at ``max_payload_chars``: a larger one is
replaced by a ``{"_truncated": ...}`` document with a preview) and the geometry as typed attributes
(``worldforge.world.object_positions`` ...), so Jaeger shows the facts and the Rerun exporter draws them in
3D. Nothing here raises into the host: a value that cannot be read is counted in ``artifacts_dropped``.
"""

from __future__ import annotations

import base64
import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from opentelemetry.trace import SpanKind, TracerProvider, get_tracer_provider
from opentelemetry.util.types import AttributeValue

from worldforge_otel import semconv
from worldforge_otel._fork import ForkSafeLock
from worldforge_otel._throttled_log import ThrottledLog
from worldforge_otel.boundary import trust_scope
from worldforge_otel.instrumentation.attribute_limits import limiter_for
from worldforge_otel.sanitize import clean_text, sanitize_value
from worldforge_otel.version import __version__

_LOG = logging.getLogger(__name__)
DEFAULT_MAX_PAYLOAD_CHARS: Final = 32_768
MAX_OBJECTS: Final = 4096
DEFAULT_SCENE_COLOR: Final = (150, 150, 150)
MAX_IMAGE_BYTES: Final = 4 * 1024 * 1024
_IMAGE_TYPES: Final = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))
_DATA_URI_PREFIXES: Final = tuple((f"data:{media_type};base64,", media_type) for _, media_type in _IMAGE_TYPES)


class ArtifactRecorder:
    """Records artifacts as spans on ``tracer_provider`` (the global one when omitted); thread-safe.

    Args:
        tracer_provider: Provider for the artifact spans.
        max_payload_chars: Cap on the JSON payload attribute.
    """

    def __init__(
        self, *, tracer_provider: TracerProvider | None = None, max_payload_chars: int = DEFAULT_MAX_PAYLOAD_CHARS
    ) -> None:
        provider = tracer_provider or get_tracer_provider()
        self._tracer = provider.get_tracer(semconv.INSTRUMENTATION_SCOPE, __version__)
        self._limiter = limiter_for(provider)
        self.max_payload_chars = max_payload_chars
        self._errors = ThrottledLog(_LOG)
        self._lock = ForkSafeLock()
        self.artifacts_recorded = 0
        self.artifacts_dropped = 0
        self.enabled = True

    def record_world(self, world: object) -> None:
        """Record a world snapshot: objects, bounding boxes and the state document."""
        self._record("world", lambda: _world_attributes(_as_dict(world), self.max_payload_chars))

    def record_plan(self, plan: object, *, provider: str | None = None, planner: str | None = None) -> None:
        """Record a plan: its action targets in order and the plan document."""
        self._record("plan", lambda: _plan_attributes(_as_dict(plan), provider, planner, self.max_payload_chars))

    def record_benchmark(self, report: object) -> None:
        """Record a benchmark report: one ``worldforge.benchmark.result`` span event per result."""
        read: list[dict[str, Any]] = []

        def document() -> dict[str, Any]:  # read once, inside the guard: a report that cannot be read is counted
            if not read:
                read.append(_as_dict(report))
            return read[0]

        self._record(
            "benchmark",
            lambda: _payload_attributes(document(), self.max_payload_chars),
            events=lambda: _benchmark_events(document(), self.max_payload_chars),
        )

    def record_doctor(self, report: object) -> None:
        """Record a doctor report as a document."""
        self._record("doctor", lambda: _payload_attributes(_as_dict(report), self.max_payload_chars))

    def record_image(self, name: str, image: bytes | str) -> None:
        """Record a PNG/JPEG image (bytes, or a ``data:image/...;base64,`` URI) as a span event."""
        self._record(
            "image",
            lambda: {semconv.IMAGE_NAME: _label(name)},
            events=lambda: [(semconv.IMAGE_EVENT, {semconv.IMAGE_NAME: _label(name),
                                                   semconv.IMAGE_DATA: image_data_uri(image)})],
        )  # fmt: skip

    def record_scene(self, snapshot: Mapping[str, Any]) -> None:
        """Record one step of a planning run as a scene: named outlines and markers, candidate paths, the choice.

        ``snapshot`` keys (coordinates in meters, points as ``(x, y)`` or ``(x, y, z)``): ``scene`` (its name:
        the entity root ``worldforge/<scene>`` and timeline ``worldforge_<scene>`` in Rerun; default
        ``scene``); ``step``; ``outlines`` (name -> ``{"points": [...], "color": [r, g, b], "width": m}``, a
        closed polyline each); ``markers`` (name -> ``{"position": p, "radius": m, "color": [r, g, b]}``);
        ``candidates`` (one path per candidate); ``candidate_rounds`` (optional: each candidate's search round,
        1, 2, ...: earlier rounds are drawn fainter); ``scores`` (one per candidate); ``selected_index``;
        ``lower_is_better``; ``metrics`` and ``latency_ms`` (name -> number). The PushT showcase records one per
        planning step (``worldforge_otel.pusht``).
        """
        self._record("scene", lambda: _scene_attributes(snapshot, self.max_payload_chars))

    def _record(self, kind: str, attributes: Any, *, events: Any = None) -> None:
        if not self.enabled:
            return
        try:
            values: dict[str, AttributeValue] = {semconv.ARTIFACT_KIND: kind, **attributes()}
            span_events = events() if events is not None else []
            if self._limiter is not None:  # cut visibly (marked, warned once), never silently by the SDK
                self._limiter.apply(values)
                for _, event_attributes in span_events:
                    self._limiter.apply(event_attributes)
            span = self._tracer.start_span(semconv.ARTIFACT_SPAN_NAMES[kind], kind=SpanKind.INTERNAL, attributes=values)
            for name, event_attributes in span_events:
                span.add_event(name, event_attributes)
            span.end()
            trust_scope(getattr(span, "instrumentation_scope", None))  # built from sanitized values only
        except Exception:
            with self._lock:
                self.artifacts_dropped += 1
            self._errors.error("worldforge_otel: could not record a %s artifact; it was dropped", kind)
            return
        with self._lock:
            self.artifacts_recorded += 1


def image_data_uri(image: bytes | str) -> str:
    """``image`` as a ``data:image/<png|jpeg>;base64,`` URI; raises ValueError for anything else."""
    if isinstance(image, str):
        media_type = image_media_type(image)
        if media_type is None:
            raise ValueError("not a data:image/png or data:image/jpeg URI")
        return image
    if len(image) > MAX_IMAGE_BYTES:
        raise ValueError(f"image larger than {MAX_IMAGE_BYTES} bytes")
    for magic, media_type in _IMAGE_TYPES:
        if image.startswith(magic):
            return f"data:{media_type};base64,{base64.b64encode(image).decode('ascii')}"
    raise ValueError("bytes are neither PNG nor JPEG")


def image_media_type(value: str) -> str | None:
    """The media type of a ``data:image/png|jpeg;base64,`` URI, else None."""
    if not value.startswith("data:image/"):  # every string attribute of every span is asked: reject fast
        return None
    for prefix, media_type in _DATA_URI_PREFIXES:
        if value.startswith(prefix):
            return media_type
    return None


def payload_json(value: object, max_chars: int) -> tuple[str, bool]:
    """Sanitized compact JSON of ``value``; over ``max_chars`` it becomes a truncation document with a preview."""
    text = json.dumps(sanitize_value(value), ensure_ascii=False, separators=(",", ":"))
    if len(text) <= max_chars:
        return text, False
    preview_chars = max(0, max_chars - 160)
    while True:
        marker = {"_truncated": True, "original_chars": len(text), "max_chars": max_chars,
                  "preview": text[:preview_chars]}  # fmt: skip
        cut = json.dumps(marker, ensure_ascii=False, separators=(",", ":"))
        if len(cut) <= max_chars or preview_chars == 0:
            return cut, True
        preview_chars = max(0, preview_chars - (len(cut) - max_chars) - 16)


def _label(value: object) -> str:
    return clean_text(str(value), max_chars=128)


def _as_dict(value: object) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        result = to_dict()
        if isinstance(result, Mapping):
            return dict(result)
    if isinstance(value, str | bytes):
        parsed = json.loads(value)
        if isinstance(parsed, Mapping):
            return dict(parsed)
    raise TypeError(f"expected a WorldForge object with to_dict() or a mapping, got {type(value).__name__}")


def _payload_attributes(document: Mapping[str, Any], max_chars: int) -> dict[str, AttributeValue]:
    text, truncated = payload_json(document, max_chars)
    attributes: dict[str, AttributeValue] = {semconv.ARTIFACT_PAYLOAD: text}
    if truncated:
        attributes[semconv.ARTIFACT_PAYLOAD_TRUNCATED] = True
    return attributes


def _xyz(value: object) -> list[float] | None:
    """A point from ``{"x","y","z"}`` or ``[x, y, z]``; None when it is not one (or not finite)."""
    if isinstance(value, Mapping):
        value = [value.get("x"), value.get("y"), value.get("z", 0.0)]
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) in (2, 3):
        try:
            point = [float(item) for item in value] + ([0.0] if len(value) == 2 else [])
        except (TypeError, ValueError):
            return None
        return point if all(math.isfinite(c) for c in point) else None
    return None


def _objects(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    scene = document.get("scene")
    objects = scene.get("objects") if isinstance(scene, Mapping) else document.get("objects")
    if isinstance(objects, Mapping):
        objects = list(objects.values())
    return [item for item in objects or [] if isinstance(item, Mapping)]


def _world_attributes(document: dict[str, Any], max_chars: int) -> dict[str, AttributeValue]:
    state = {key: value for key, value in document.items() if key != "history"}  # the snapshot, not its past
    if isinstance(document.get("history"), list):
        state["history_length"] = len(document["history"])
    attributes = _payload_attributes(state, max_chars)
    attributes[semconv.WORLD_ID] = _label(document.get("id") or document.get("name") or "world")
    attributes[semconv.WORLD_NAME] = _label(document.get("name") or "")
    step = document.get("step")
    attributes[semconv.WORLD_STEP] = step if isinstance(step, int) and not isinstance(step, bool) else 0
    names: list[str] = []
    positions: list[float] = []
    box_names: list[str] = []
    mins: list[float] = []
    maxs: list[float] = []
    objects = _objects(document)
    for item in objects[:MAX_OBJECTS]:
        name = _label(item.get("name") or item.get("id") or "object")
        pose = item.get("pose")
        position = _xyz(pose.get("position") if isinstance(pose, Mapping) else item.get("position"))
        if position is not None:
            names.append(name)
            positions.extend(position)
        bbox = item.get("bbox")
        low = _xyz(bbox.get("min")) if isinstance(bbox, Mapping) else None
        high = _xyz(bbox.get("max")) if isinstance(bbox, Mapping) else None
        if low is not None and high is not None:
            box_names.append(name)
            mins.extend(low)
            maxs.extend(high)
    attributes.update({
        semconv.WORLD_OBJECT_NAMES: names, semconv.WORLD_OBJECT_POSITIONS: positions,
        semconv.WORLD_BOX_NAMES: box_names, semconv.WORLD_BOX_MINS: mins, semconv.WORLD_BOX_MAXS: maxs,
    })  # fmt: skip
    if len(objects) > MAX_OBJECTS:
        attributes[semconv.WORLD_OBJECTS_DROPPED] = len(objects) - MAX_OBJECTS
    return attributes


def _plan_attributes(
    document: dict[str, Any], provider: str | None, planner: str | None, max_chars: int
) -> dict[str, AttributeValue]:
    attributes = _payload_attributes(document, max_chars)
    attributes[semconv.PLAN_PROVIDER] = _label(provider or document.get("provider") or "unknown")
    attributes[semconv.PLAN_PLANNER] = _label(planner or document.get("planner") or "unknown")
    if document.get("goal"):
        attributes[semconv.PLAN_GOAL] = clean_text(str(document["goal"]), max_chars=1024)
    actions = [a for a in document.get("actions") or [] if isinstance(a, Mapping)]
    attributes[semconv.PLAN_ACTION_COUNT] = len(actions)
    targets: list[float] = []
    for action in actions[:MAX_OBJECTS]:
        parameters = action.get("parameters")
        target = _xyz(parameters.get("target")) if isinstance(parameters, Mapping) else _xyz(action.get("target"))
        if target is not None:
            targets.extend(target)
    attributes[semconv.PLAN_TARGETS] = targets
    return attributes


def _numbers(values: Mapping[str, Any] | None, prefix: str) -> dict[str, AttributeValue]:
    """Every finite number in ``values`` (booleans are not numbers here) as ``<prefix><key>`` attributes."""
    return {
        f"{prefix}{clean_text(str(key), max_chars=64)}": value
        for key, value in (values or {}).items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    }


def _benchmark_events(document: Mapping[str, Any], max_chars: int) -> list[tuple[str, dict[str, AttributeValue]]]:
    events = []
    for result in document.get("results") or []:
        if not isinstance(result, Mapping):
            continue
        attributes: dict[str, AttributeValue] = {
            semconv.PROVIDER: _label(result.get("provider") or "unknown"),
            semconv.OPERATION: _label(result.get("operation") or "unknown"),
            semconv.ARTIFACT_PAYLOAD: payload_json(result, max_chars)[0],
        }
        attributes.update(_numbers(result, semconv.BENCHMARK_METRIC_PREFIX))
        events.append((semconv.BENCHMARK_RESULT_EVENT, attributes))
    return events


def _flat_points(points: object) -> list[float]:
    flat: list[float] = []
    for point in points if isinstance(points, Sequence) and not isinstance(points, str) else []:
        xyz = _xyz(point)
        if xyz is not None:
            flat.extend(xyz)
    return flat


def _scene_attributes(snapshot: Mapping[str, Any], max_chars: int) -> dict[str, AttributeValue]:
    paths = [path for path in snapshot.get("candidates") or [] if isinstance(path, Sequence)][:MAX_OBJECTS]
    flat_paths = [_flat_points(path) for path in paths]
    scores = [float(s) if isinstance(s, int | float) and math.isfinite(s) else math.nan
              for s in snapshot.get("scores") or []]  # fmt: skip
    step, selected = snapshot.get("step"), snapshot.get("selected_index")
    document = {key: snapshot.get(key) for key in ("scene", "step", "scores", "selected_index", "lower_is_better",
                                                    "metrics", "latency_ms")}  # fmt: skip
    attributes = _payload_attributes(document, max_chars)
    attributes.update({
        semconv.SCENE_NAME: _label(snapshot.get("scene") or "scene"),
        semconv.SCENE_STEP: step if isinstance(step, int) and not isinstance(step, bool) else 0,
        **_outline_attributes(snapshot.get("outlines")),
        **_marker_attributes(snapshot.get("markers")),
        semconv.SCENE_PATHS: [v for path in flat_paths for v in path],
        semconv.SCENE_PATH_LENGTHS: [len(path) // 3 for path in flat_paths],
        semconv.SCENE_ROUNDS: [r if isinstance(r, int) and not isinstance(r, bool) else 0
                               for r in (snapshot.get("candidate_rounds") or [])][: len(paths)],
        semconv.SCENE_SCORES: scores,
        semconv.SCENE_SELECTED: selected if isinstance(selected, int) and not isinstance(selected, bool) else -1,
        semconv.SCENE_LOWER_IS_BETTER: bool(snapshot.get("lower_is_better", True)),
        **_numbers(snapshot.get("metrics"), semconv.SCENE_METRIC_PREFIX),
        **_numbers(snapshot.get("latency_ms"), semconv.SCENE_LATENCY_PREFIX),
    })  # fmt: skip
    return attributes


def _named(items: object) -> list[tuple[str, Mapping[str, Any]]]:
    pairs = items.items() if isinstance(items, Mapping) else []
    return [(_label(name), spec) for name, spec in pairs if isinstance(spec, Mapping)][:MAX_OBJECTS]


def _rgb(value: object, default: Sequence[int]) -> list[int]:
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) >= 3:
        try:
            return [min(255, max(0, int(c))) for c in value[:3]]
        except (TypeError, ValueError):
            pass
    return list(default)


def _positive(value: object, default: float) -> float:
    """``value`` when it is a finite number above zero, else ``default``."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
        return float(value)
    return default


def _outline_attributes(outlines: object) -> dict[str, AttributeValue]:
    names: list[str] = []
    points: list[float] = []
    lengths: list[int] = []
    colors: list[int] = []
    widths: list[float] = []
    for name, spec in _named(outlines):
        flat = _flat_points(spec.get("points"))
        names.append(name)
        points.extend(flat)
        lengths.append(len(flat) // 3)
        colors.extend(_rgb(spec.get("color"), DEFAULT_SCENE_COLOR))
        widths.append(_positive(spec.get("width"), 0.002))
    return {semconv.SCENE_OUTLINE_NAMES: names, semconv.SCENE_OUTLINE_POINTS: points,
            semconv.SCENE_OUTLINE_LENGTHS: lengths, semconv.SCENE_OUTLINE_COLORS: colors,
            semconv.SCENE_OUTLINE_WIDTHS: widths}  # fmt: skip


def _marker_attributes(markers: object) -> dict[str, AttributeValue]:
    names: list[str] = []
    positions: list[float] = []
    radii: list[float] = []
    colors: list[int] = []
    for name, spec in _named(markers):
        position = _xyz(spec.get("position"))
        if position is None:
            continue
        names.append(name)
        positions.extend(position)
        radii.append(_positive(spec.get("radius"), 0.01))
        colors.extend(_rgb(spec.get("color"), DEFAULT_SCENE_COLOR))
    return {semconv.SCENE_MARKER_NAMES: names, semconv.SCENE_MARKER_POSITIONS: positions,
            semconv.SCENE_MARKER_RADII: radii, semconv.SCENE_MARKER_COLORS: colors}  # fmt: skip


_default: ArtifactRecorder | None = None
_default_lock = ForkSafeLock()


def default_recorder() -> ArtifactRecorder:
    """The process-wide recorder on the global TracerProvider (what the module-level ``record_*`` use)."""
    global _default  # noqa: PLW0603
    with _default_lock:
        if _default is None:
            _default = ArtifactRecorder()
        return _default


def record_world(world: object) -> None:
    """Record a world snapshot on the global TracerProvider; see :meth:`ArtifactRecorder.record_world`."""
    default_recorder().record_world(world)


def record_plan(plan: object, *, provider: str | None = None, planner: str | None = None) -> None:
    """Record a plan on the global TracerProvider; see :meth:`ArtifactRecorder.record_plan`."""
    default_recorder().record_plan(plan, provider=provider, planner=planner)


def record_benchmark(report: object) -> None:
    """Record a benchmark report on the global TracerProvider."""
    default_recorder().record_benchmark(report)


def record_doctor(report: object) -> None:
    """Record a doctor report on the global TracerProvider."""
    default_recorder().record_doctor(report)


def record_image(name: str, image: bytes | str) -> None:
    """Record a PNG/JPEG image on the global TracerProvider."""
    default_recorder().record_image(name, image)


def record_scene(snapshot: Mapping[str, Any]) -> None:
    """Record a scene (one planning step) on the global TracerProvider; see :meth:`ArtifactRecorder.record_scene`."""
    default_recorder().record_scene(snapshot)
