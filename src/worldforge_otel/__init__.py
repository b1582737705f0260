"""worldforge-otel: WorldForge ProviderEvents as OpenTelemetry spans and metrics, seen in Rerun.

Usage::

    import worldforge_otel
    from worldforge import WorldForge

    telemetry = worldforge_otel.configure()  # attaches to the host's OTel providers, or creates them
    forge = WorldForge(event_handler=telemetry)

``import worldforge_otel`` never imports rerun-sdk; the Rerun exporters live in :mod:`worldforge_otel.rerun`.
"""

from __future__ import annotations

from worldforge_otel.configure import AlreadyConfiguredError, BatchOptions, Telemetry, configure
from worldforge_otel.events import EventRecord, ProviderEventLike
from worldforge_otel.instrumentation import HandlerStats, ProviderEventHandler
from worldforge_otel.rerun import RerunOptions
from worldforge_otel.version import __version__

__all__ = [
    "AlreadyConfiguredError",
    "BatchOptions",
    "EventRecord",
    "HandlerStats",
    "ProviderEventHandler",
    "ProviderEventLike",
    "RerunOptions",
    "Telemetry",
    "__version__",
    "configure",
]
