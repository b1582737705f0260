"""OpenTelemetry -> Rerun: span and metric exporters writing one shared recording per process.

rerun-sdk is imported only when a sink opens, so importing this package never needs it.
"""

from __future__ import annotations

from worldforge_otel.rerun.metric_exporter import RerunMetricExporter
from worldforge_otel.rerun.sinks import RerunOptions, RerunSink, shared_sink
from worldforge_otel.rerun.span_exporter import RerunSpanExporter

__all__ = ["RerunMetricExporter", "RerunOptions", "RerunSink", "RerunSpanExporter", "shared_sink"]
