"""Entity paths and timelines of a worldforge-otel recording (pure functions; no rerun import).

| Entity path | Contents |
|---|---|
| ``worldforge/events/<provider>/<operation>/<phase>/log`` | TextLog, one line per provider event |
| ``worldforge/events/<provider>/<operation>/<phase>/payload`` | TextDocument, the sanitized event JSON |
| ``worldforge/events/<provider>/<operation>/<phase>/duration_ms`` | Scalars, the event's latency |
| ``otel/spans/<service>/<span name>/log`` | TextLog for every other span |
| ``otel/spans/<service>/<span name>/duration_ms`` | Scalars, that span's duration |
| ``otel/metrics/<service>/<metric>/<key=value>...`` | Scalars per metric and attribute set |
| ``otel/logs/<service>/<logger>`` | TextLog, one line per OTel log record (Python ``logging`` included) |
| ``worldforge/worlds/<world_id>/{state,objects,object_boxes}`` | TextDocument, Points3D, Boxes3D of a world snapshot |
| ``worldforge/plans/<provider>/<planner>/<n>/{payload,action_targets,action_path}`` | a plan and its targets |
| ``worldforge/benchmarks/<provider>/<operation>/{result,<metric>,latency_ms}`` | a benchmark result and its numbers |
| ``worldforge/diagnostics/doctor`` | TextDocument, the doctor report |
| ``worldforge/media/<span name>/<name>`` | EncodedImage carried by a span |
| ``worldforge/<scene>/tabletop/{<outline>,<marker>,candidates,selected}`` | a scene: one step of a planning run |
| ``worldforge/<scene>/scores/{candidates,candidate_score,selected_index,<metric>}`` | its scores |
| ``worldforge/<scene>/runtime/<name>_ms`` | its latencies |
| ``otel/traces/waterfall/{bars,labels,events,tree}`` | the trace waterfall of the latest trace at the time cursor |
| ``otel/traces/<trace_id>/tree`` | TextDocument, each drawn trace's span tree |
| ``otel/lanes/<service>/<span name>`` | StateChange: when spans of that name were in flight (rerun-sdk >= 0.32) |
| ``otel/_self/otel.sdk.exporter.<item>.exported[/error.type=dropped]`` | items each exporter wrote (or dropped) |
| ``otel/_self/otel.sdk.exporter.operation.duration/<item>`` | seconds per export |
| ``otel/_self/<counter>`` | other health of the exporters (cardinality overflows, traces not drawn) |

Timelines: ``worldforge_event`` (sequence of provider events), ``worldforge_time`` (wall clock, from the
spans' and data points' own timestamps, so everything lines up), ``worldforge_step`` (world step),
``worldforge_plan`` (plan sequence), ``worldforge_benchmark_result`` (benchmark result index),
``worldforge_<scene>`` (a scene's planning step; the PushT showcase's is ``worldforge_robotics_showcase``) and
``worldforge_candidate`` (candidate-score sequence).
"""

from __future__ import annotations

import functools
import re
from typing import Final

EVENT_TIMELINE: Final = "worldforge_event"
TIME_TIMELINE: Final = "worldforge_time"
STEP_TIMELINE: Final = "worldforge_step"
PLAN_TIMELINE: Final = "worldforge_plan"
BENCHMARK_TIMELINE: Final = "worldforge_benchmark_result"
CANDIDATE_TIMELINE: Final = "worldforge_candidate"

EVENTS_ROOT: Final = "worldforge/events"
WORLDS_ROOT: Final = "worldforge/worlds"
PLANS_ROOT: Final = "worldforge/plans"
BENCHMARKS_ROOT: Final = "worldforge/benchmarks"
DOCTOR_PATH: Final = "worldforge/diagnostics/doctor"
MEDIA_ROOT: Final = "worldforge/media"
TRACES_ROOT: Final = "otel/traces"
LANES_ROOT: Final = "otel/lanes"
WATERFALL_PATH: Final = f"{TRACES_ROOT}/waterfall"
SPANS_ROOT: Final = "otel/spans"
METRICS_ROOT: Final = "otel/metrics"
LOGS_ROOT: Final = "otel/logs"
SELF_ROOT: Final = "otel/_self"

UNKNOWN_SERVICE: Final = "unknown_service"
MAX_PART_CHARS: Final = 96
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")

PHASE_LEVELS: Final = {"success": "INFO", "retry": "WARN", "failure": "ERROR"}


@functools.lru_cache(maxsize=8192)  # names repeat: services, span names, providers, operations
def path_part(text: str) -> str:
    """One entity-path segment: characters outside ``[A-Za-z0-9_.-]`` become ``_``; never empty."""
    part = _UNSAFE.sub("_", text)[:MAX_PART_CHARS].strip(".")
    return part or "_"


def service_of(resource: object) -> str:
    """The ``service.name`` of an OTel resource (``unknown_service`` without one): the ``<service>`` segment."""
    attributes = getattr(resource, "attributes", None) or {}
    return str(attributes.get("service.name", UNKNOWN_SERVICE))


def event_path(provider: str, operation: str, phase: str) -> str:
    """Base path of a provider event; ``/log``, ``/payload`` and ``/duration_ms`` hang below it."""
    return f"{EVENTS_ROOT}/{path_part(provider)}/{path_part(operation)}/{path_part(phase)}"


def span_path(service: str, span_name: str) -> str:
    """Base path of a span that is not a WorldForge provider event."""
    return f"{SPANS_ROOT}/{path_part(service)}/{path_part(span_name)}"


def metric_path(service: str, metric_name: str, attributes: dict[str, str]) -> str:
    """Path of one metric stream: one ``key=value`` segment per attribute (the whole key), sorted by key.

    The whole key, because its last part is not unique: ``{net.peer.name: db}`` and ``{net.host.name: db}`` are
    two series and must not interleave on one path.
    """
    parts = [f"{path_part(key)}={path_part(value)}" for key, value in sorted(attributes.items())]
    return "/".join([METRICS_ROOT, path_part(service), path_part(metric_name), *parts])


def log_path(service: str, logger_name: str) -> str:
    """Path of the TextLog of one logger (the log record's instrumentation scope) of one service."""
    return f"{LOGS_ROOT}/{path_part(service)}/{path_part(logger_name)}"


def world_path(world_id: str) -> str:
    """Base path of one world; ``/state``, ``/objects`` and ``/object_boxes`` hang below it."""
    return f"{WORLDS_ROOT}/{path_part(world_id)}"


def plan_path(provider: str, planner: str, number: int) -> str:
    """Base path of the ``number``-th plan; ``/payload``, ``/action_targets`` and ``/action_path`` below it."""
    return f"{PLANS_ROOT}/{path_part(provider)}/{path_part(planner)}/{number}"


def benchmark_path(provider: str, operation: str) -> str:
    """Base path of a benchmark result; ``/result`` and one ``/<metric>`` per number below it."""
    return f"{BENCHMARKS_ROOT}/{path_part(provider)}/{path_part(operation)}"


def media_path(span_name: str, name: str) -> str:
    """Path of an image carried by a span."""
    return f"{MEDIA_ROOT}/{path_part(span_name)}/{path_part(name)}"


def self_path(counter: str) -> str:
    """Path of one of the exporter's own health scalars."""
    return f"{SELF_ROOT}/{path_part(counter)}"


_EXPORTED_ITEMS: Final = {"spans": "span", "metrics": "metric_data_point", "logs": "log"}


def exporter_health_paths(signal: str) -> tuple[str, str, str]:
    """Paths of an exporter's own health, named as OTel's SDK self-observability conventions name them.

    ``otel.sdk.exporter.<item>.exported`` (items written), the same with ``error.type=dropped`` (items not
    written) and ``otel.sdk.exporter.operation.duration`` (seconds per export) for ``signal`` (spans, metrics,
    logs), each a running value after every export.
    """
    item = _EXPORTED_ITEMS.get(signal, path_part(signal))
    exported = f"{SELF_ROOT}/otel.sdk.exporter.{item}.exported"
    return exported, f"{exported}/error.type=dropped", f"{SELF_ROOT}/otel.sdk.exporter.operation.duration/{item}"


def scene_root(scene: str) -> str:
    """Entity root of a scene (``record_scene``): ``worldforge/<scene>``."""
    return f"worldforge/{path_part(scene)}"


def scene_timeline(scene: str) -> str:
    """The step timeline of a scene: ``worldforge_<scene>``."""
    return f"worldforge_{path_part(scene)}"


def event_level(phase: str) -> str:
    """Rerun TextLog level for an event phase."""
    return PHASE_LEVELS.get(phase, "INFO")
