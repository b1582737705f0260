"""Attribute, span and metric names: the OTel semantic conventions plus the ``worldforge.*`` namespace."""

from __future__ import annotations

import functools
from typing import Final

INSTRUMENTATION_SCOPE: Final = "worldforge_otel"

# worldforge.* attributes (one per ProviderEvent field)
PROVIDER: Final = "worldforge.provider"
OPERATION: Final = "worldforge.operation"
PHASE: Final = "worldforge.phase"
CAPABILITY: Final = "worldforge.capability"
ATTEMPT: Final = "worldforge.attempt"
MAX_ATTEMPTS: Final = "worldforge.max_attempts"
TARGET: Final = "worldforge.target"
STATUS_CODE: Final = "worldforge.status_code"
DURATION_MS: Final = "worldforge.duration_ms"
MESSAGE: Final = "worldforge.message"
RETRY: Final = "worldforge.retry"
RUN_ID: Final = "worldforge.run.id"
METADATA_PREFIX: Final = "worldforge.metadata."
METADATA_DROPPED: Final = "worldforge.metadata._dropped"
RETRY_EVENT: Final = "worldforge.retry"

# Standard OTel attributes
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
URL_FULL: Final = "url.full"
ERROR_TYPE: Final = "error.type"
ERROR_TYPE_OTHER: Final = "_OTHER"

# Metric instruments
DURATION_METRIC: Final = "worldforge.provider.operation.duration"
EVENTS_METRIC: Final = "worldforge.provider.events"
RETRIES_METRIC: Final = "worldforge.provider.retries"
FAILURES_METRIC: Final = "worldforge.provider.failures"
# GenAI client duration buckets (seconds), as advised by the semantic conventions.
DURATION_BUCKETS_SECS: Final = (
    0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)

# WorldForge operations that are GenAI operations; predict/plan/score/policy/transfer have none.
GEN_AI_CLIENT_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
GEN_AI_DURATION_BUCKETS_SECS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip  # the GenAI conventions' advisory buckets
GEN_AI_OPERATIONS: Final = {"generate": "generate_content", "embed": "embeddings", "reason": "chat"}
CAPABILITIES: Final = frozenset(
    {"predict", "plan", "score", "policy", "transfer", "generate", "reason", "embed"}
)

# Metadata keys that carry trace context or a run id from the host.
TRACEPARENT_KEY: Final = "traceparent"
TRACE_ID_KEYS: Final = ("trace_id", "otel_trace_id")
SPAN_ID_KEYS: Final = ("span_id", "parent_span_id", "otel_span_id")
RUN_ID_KEYS: Final = ("run_id", "worldforge_run_id")


def span_name(operation: str, provider: str) -> str:
    """GenAI-style span name ``{operation} {provider}``: one name per provider call, not per phase."""
    return f"{operation} {provider}"


@functools.lru_cache(maxsize=1024)
def capability_of(operation: str) -> str:
    """The WorldForge capability an operation belongs to (``other`` when it is not a capability call)."""
    head = operation.split(".", 1)[0].split("_", 1)[0]
    return head if head in CAPABILITIES else "other"

# Artifacts (worlds, plans, benchmark and doctor reports, images) carried by spans and span events
ARTIFACT_KIND: Final = "worldforge.artifact.kind"
ARTIFACT_PAYLOAD: Final = "worldforge.artifact.payload"
ARTIFACT_PAYLOAD_TRUNCATED: Final = "worldforge.artifact.payload_truncated"
WORLD_ID: Final = "worldforge.world.id"
WORLD_NAME: Final = "worldforge.world.name"
WORLD_STEP: Final = "worldforge.world.step"
WORLD_OBJECT_NAMES: Final = "worldforge.world.object_names"
WORLD_OBJECT_POSITIONS: Final = "worldforge.world.object_positions"  # flat [x, y, z, x, y, z, ...]
WORLD_BOX_NAMES: Final = "worldforge.world.box_names"
WORLD_BOX_MINS: Final = "worldforge.world.box_mins"  # flat, one xyz per box
WORLD_BOX_MAXS: Final = "worldforge.world.box_maxs"
WORLD_OBJECTS_DROPPED: Final = "worldforge.world.objects_dropped"
PLAN_PROVIDER: Final = "worldforge.plan.provider"
PLAN_PLANNER: Final = "worldforge.plan.planner"
PLAN_GOAL: Final = "worldforge.plan.goal"
PLAN_ACTION_COUNT: Final = "worldforge.plan.action_count"
PLAN_TARGETS: Final = "worldforge.plan.targets"  # flat, the action targets in order
BENCHMARK_RESULT_EVENT: Final = "worldforge.benchmark.result"
BENCHMARK_METRIC_PREFIX: Final = "worldforge.benchmark.metric."
IMAGE_EVENT: Final = "worldforge.artifact.image"
IMAGE_NAME: Final = "worldforge.image.name"
IMAGE_DATA: Final = "worldforge.image.data"  # a data:image/png;base64,... URI
# A scene: one step of a planning run drawn in 3D (named outlines and markers, candidate paths, the choice, scores)
SCENE_NAME: Final = "worldforge.scene.name"  # the scene's entity root and timeline, e.g. robotics_showcase
SCENE_STEP: Final = "worldforge.scene.step"
SCENE_OUTLINE_NAMES: Final = "worldforge.scene.outline_names"
SCENE_OUTLINE_POINTS: Final = "worldforge.scene.outline_points"  # flat xyz of every outline, one after another
SCENE_OUTLINE_LENGTHS: Final = "worldforge.scene.outline_lengths"  # points per outline
SCENE_OUTLINE_COLORS: Final = "worldforge.scene.outline_colors"  # flat rgb per outline
SCENE_OUTLINE_WIDTHS: Final = "worldforge.scene.outline_widths"  # line radius per outline, meters
SCENE_MARKER_NAMES: Final = "worldforge.scene.marker_names"
SCENE_MARKER_POSITIONS: Final = "worldforge.scene.marker_positions"  # flat xyz
SCENE_MARKER_RADII: Final = "worldforge.scene.marker_radii"
SCENE_MARKER_COLORS: Final = "worldforge.scene.marker_colors"  # flat rgb per marker
SCENE_PATHS: Final = "worldforge.scene.candidate_paths"  # flat xyz of every candidate path, one after another
SCENE_PATH_LENGTHS: Final = "worldforge.scene.candidate_path_lengths"  # points per candidate path
SCENE_ROUNDS: Final = "worldforge.scene.candidate_rounds"  # the search round of each candidate path
SCENE_SCORES: Final = "worldforge.scene.scores"
SCENE_SELECTED: Final = "worldforge.scene.selected_index"
SCENE_LOWER_IS_BETTER: Final = "worldforge.scene.lower_is_better"
SCENE_METRIC_PREFIX: Final = "worldforge.scene.metric."
SCENE_LATENCY_PREFIX: Final = "worldforge.scene.latency_ms."
ARTIFACT_SPAN_NAMES: Final = {
    "world": "worldforge.world",
    "plan": "worldforge.plan",
    "benchmark": "worldforge.benchmark",
    "doctor": "worldforge.doctor",
    "image": "worldforge.image",
    "scene": "worldforge.scene",
}
