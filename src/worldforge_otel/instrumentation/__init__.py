"""ProviderEvent -> OpenTelemetry spans and metrics. Works without rerun-sdk.

Usage::

    from worldforge import WorldForge
    from worldforge_otel.instrumentation import ProviderEventHandler

    forge = WorldForge(event_handler=ProviderEventHandler())
    record_world(forge.create_world("lab", provider="mock"))   # worlds, plans, reports as spans too
"""

from __future__ import annotations

from worldforge_otel.instrumentation.artifacts import (
    ArtifactRecorder,
    record_benchmark,
    record_doctor,
    record_image,
    record_plan,
    record_scene,
    record_world,
)
from worldforge_otel.instrumentation.handler import HandlerStats, ProviderEventHandler

__all__ = [
    "ArtifactRecorder",
    "HandlerStats",
    "ProviderEventHandler",
    "record_benchmark",
    "record_doctor",
    "record_image",
    "record_plan",
    "record_scene",
    "record_world",
]
