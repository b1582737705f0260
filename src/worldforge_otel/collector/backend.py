"""One Rerun recording of the receiver and the three exporters writing into it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExportResult
from opentelemetry.sdk.trace.export import SpanExportResult

from worldforge_otel.rerun.log_exporter import RerunLogExporter
from worldforge_otel.rerun.metric_exporter import RerunMetricExporter
from worldforge_otel.rerun.options import RerunOptions
from worldforge_otel.rerun.sinks import RerunSink
from worldforge_otel.rerun.span_exporter import RerunSpanExporter


class RerunBackend:
    """One Rerun recording and the three exporters writing into it."""

    def __init__(self, options: RerunOptions) -> None:
        self.sink = RerunSink(options)
        self.spans = RerunSpanExporter(sink=self.sink)
        self.metrics = RerunMetricExporter(sink=self.sink)
        self.logs = RerunLogExporter(sink=self.sink)

    def write(self, signal: str, items: Sequence[Any]) -> bool:
        """Export ``items`` of ``signal`` (``traces``, ``metrics`` or ``logs``); False when the exporter failed."""
        if signal == "traces":
            return self.spans.export(items) is SpanExportResult.SUCCESS
        if signal == "metrics":
            return all(self.metrics.export(item) is MetricExportResult.SUCCESS for item in items)
        return self.logs.export(items) is LogRecordExportResult.SUCCESS

    def close(self, timeout_secs: float) -> bool:
        """Shut the exporters down, then flush and close the recording within ``timeout_secs``."""
        for exporter in (self.spans, self.metrics, self.logs):
            exporter.shutdown()
        return self.sink.close(timeout_secs=timeout_secs)
