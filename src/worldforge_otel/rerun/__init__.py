"""OpenTelemetry -> Rerun: span, metric and log exporters writing one shared recording per process.

rerun-sdk is imported only when a sink opens, so importing this package never needs it.
"""

from __future__ import annotations

from worldforge_otel.rerun.log_exporter import RerunLogExporter
from worldforge_otel.rerun.metric_exporter import RerunMetricExporter
from worldforge_otel.rerun.options import RerunOptions, resolve_options
from worldforge_otel.rerun.sinks import RerunSink, shared_sink
from worldforge_otel.rerun.span_exporter import RerunSpanExporter

__all__ = [
    "RerunLogExporter",
    "RerunMetricExporter",
    "RerunOptions",
    "RerunSink",
    "RerunSpanExporter",
    "resolve_options",
    "shared_sink",
]
