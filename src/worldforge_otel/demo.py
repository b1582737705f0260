"""The demo flow: a WorldForge-like run with successes, two retries and a failure, sent through ``configure()``.

With ``worldforge-ai`` installed (Python >= 3.13) the world, predictions and plan come from the real
``WorldForge`` mock provider and the retry/failure events are real ``worldforge.ProviderEvent`` objects;
otherwise a built-in flow emits the same events.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace

EventHandler = Callable[[Any], None]


@dataclass(frozen=True, slots=True)
class DemoEvent:
    """The built-in stand-in for ``worldforge.ProviderEvent`` (same fields)."""

    provider: str
    operation: str
    phase: str
    attempt: int = 1
    max_attempts: int = 1
    method: str | None = None
    target: str | None = None
    status_code: int | None = None
    duration_ms: float | None = None
    message: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class DemoResult:
    """What the demo did."""

    events: int
    source: str


def _real_worldforge() -> Any:
    try:
        import worldforge
    except ImportError:
        return None
    return worldforge


def _after_its_duration(handler: EventHandler, event: Any) -> None:
    """Emit a simulated call's event once its ``duration_ms`` has passed, so its span sits inside the run's."""
    time.sleep(max(float(event.duration_ms or 0.0), 0.0) / 1000)
    handler(event)


def remote_provider_events(event_type: Callable[..., Any]) -> list[Any]:
    """A remote provider call that is retried twice and then fails (secrets planted to show redaction)."""
    target = "https://demo:hunter2@api.example.com/v1/generate?api_key=sk-demo1234567890abcdef"
    common = {"provider": "remote-demo", "operation": "generate", "max_attempts": 3, "method": "POST"}
    return [
        event_type(
            **common, phase="retry", attempt=1, target=target, status_code=503, duration_ms=41.7,
            message="HTTP 503 Service Unavailable", metadata={"next_delay_seconds": 0.5},
        ),
        event_type(
            **common, phase="retry", attempt=2, target=target, duration_ms=250.0,
            message="ConnectTimeout: timed out after 250 ms (Authorization: Bearer sk-demo1234567890abcdef)",
            metadata={"next_delay_seconds": 1.0},
        ),
        event_type(
            **common, phase="failure", attempt=3, target=target, status_code=503, duration_ms=38.2,
            message="HTTP 503 Service Unavailable after 3 attempts",
        ),
    ]


def built_in_events(seed: int = 7) -> list[DemoEvent]:
    """The mock provider's world/predict/plan events, as the real mock emits them."""
    rng = random.Random(seed)
    events = [
        DemoEvent("mock", "predict", "success", duration_ms=round(rng.uniform(0.1, 2.0), 3),
                  metadata={"steps": step, "frame_count": step})
        for step in (1, 2, 3)
    ]
    events.append(DemoEvent("mock", "plan", "success", duration_ms=round(rng.uniform(1.0, 5.0), 3),
                            metadata={"planner": "cem", "max_steps": 20}))
    events.append(DemoEvent("mock", "score", "success", duration_ms=round(rng.uniform(0.1, 1.0), 3),
                            metadata={"candidates": 8}))
    return events


def built_in_artifacts() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A world (two objects with boxes), a plan (three targets) and a benchmark report, as ``to_dict()`` gives them."""
    world = {
        "id": "world_demo_lab", "name": "lab", "provider": "mock", "step": 3,
        "scene": {"objects": {
            "obj_cube": {"id": "obj_cube", "name": "cube", "pose": {"position": {"x": 0.3, "y": 0.5, "z": 0.05}},
                         "bbox": {"min": {"x": 0.25, "y": 0.45, "z": 0.0}, "max": {"x": 0.35, "y": 0.55, "z": 0.1}}},
            "obj_mug": {"id": "obj_mug", "name": "mug", "pose": {"position": {"x": -0.2, "y": 0.3, "z": 0.06}},
                        "bbox": {"min": {"x": -0.25, "y": 0.25, "z": 0.0}, "max": {"x": -0.15, "y": 0.35, "z": 0.12}}},
        }},
    }  # fmt: skip
    plan = {
        "goal": "move the cube to the left", "planner": "cem", "provider": "mock", "success_probability": 0.75,
        "actions": [
            {"type": "move_to", "parameters": {"target": {"x": x, "y": 0.5, "z": 0.05}}} for x in (0.1, -0.1, -0.3)
        ],
    }  # fmt: skip
    benchmark = {"results": [
        {"provider": "mock", "operation": op, "iterations": 5, "success_count": 5, "error_count": 0,
         "min_latency_ms": latency * 0.8, "p50_latency_ms": latency * 0.95, "average_latency_ms": latency,
         "p95_latency_ms": latency * 1.4, "max_latency_ms": latency * 1.6, "throughput_per_second": 1000 / latency}
        for op, latency in (("predict", 0.9), ("plan", 2.4))
    ]}  # fmt: skip
    return world, plan, benchmark


def run_demo(
    handler: EventHandler,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    artifacts: Any = None,
    built_in: bool = False,
) -> DemoResult:
    """Run the flow inside one ``worldforge.demo`` span, sending every event to ``handler``.

    The flow is worldforge-ai's own when it is installed, else (or with ``built_in``) a built-in one of the
    same shape. With ``artifacts`` (an :class:`~worldforge_otel.instrumentation.ArtifactRecorder`), the world,
    the plan, a benchmark report (and, with worldforge-ai, the doctor report) are recorded too.
    """
    tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer("worldforge_otel.demo")
    worldforge = None if built_in else _real_worldforge()
    count = 0

    def counting(event: Any) -> None:
        nonlocal count
        count += 1
        handler(event)

    with tracer.start_as_current_span("worldforge.demo"):
        if worldforge is not None:
            forge = worldforge.WorldForge(event_handler=counting)
            world = forge.create_world("lab", provider="mock")
            position, box = worldforge.Position, worldforge.BBox
            world.add_object(worldforge.SceneObject(
                "mug", position(-0.2, 0.3, 0.06), box(position(-0.25, 0.25, 0.0), position(-0.15, 0.35, 0.12))
            ))  # fmt: skip
            for step in (1, 2, 3):
                world.predict(worldforge.Action.move_to(0.1 * step, 0.5, 0.0), steps=step)
            plan = world.plan(goal="move the cube to the left", provider="mock")
            if artifacts is not None:
                artifacts.record_world(world)
                artifacts.record_plan(plan)
                harness = worldforge.ProviderBenchmarkHarness(forge=forge)
                artifacts.record_benchmark(harness.run("mock", operations=["predict"], iterations=5))
                artifacts.record_doctor(forge.doctor())
            remote = remote_provider_events(worldforge.ProviderEvent)
            source = f"worldforge-ai {getattr(worldforge, '__version__', '')} mock provider".replace("  ", " ")
        else:
            for event in built_in_events():
                _after_its_duration(counting, event)
            if artifacts is not None:
                world, plan, benchmark = built_in_artifacts()
                artifacts.record_world(world)
                artifacts.record_plan(plan)
                artifacts.record_benchmark(benchmark)
            remote = remote_provider_events(DemoEvent)
            source = "built-in mock flow (install worldforge-otel[worldforge] on Python >= 3.13 for the real one)"
        for event in remote:
            _after_its_duration(counting, event)
    return DemoResult(events=count, source=source)
