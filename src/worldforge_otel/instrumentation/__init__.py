"""ProviderEvent -> OpenTelemetry spans and metrics. Works without rerun-sdk.

Usage::

    from worldforge import WorldForge
    from worldforge_otel.instrumentation import ProviderEventHandler

    forge = WorldForge(event_handler=ProviderEventHandler())
"""

from __future__ import annotations

from worldforge_otel.instrumentation.handler import HandlerStats, ProviderEventHandler

__all__ = ["HandlerStats", "ProviderEventHandler"]
