"""``RerunMetricExporter``: OTel metrics -> Rerun scalars, one entity path per metric and attribute set.

Sums and gauges become one scalar at ``otel/metrics/<service>/<metric>/<key=value>...``; histograms become
``.../count``, ``.../sum`` and ``.../mean``. Points are placed on ``worldforge_time`` at their own timestamp.

Usage::

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from worldforge_otel.rerun import RerunMetricExporter

    provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(RerunMetricExporter())])
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ExponentialHistogram,
    Gauge,
    Histogram,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    Sum,
)
from opentelemetry.sdk.metrics.view import Aggregation

from worldforge_otel.boundary import clean_attributes, clean_resource
from worldforge_otel.rerun.cardinality import DEFAULT_MAX_METRIC_SERIES, OVERFLOW, NameBudget, add_overflow_count
from worldforge_otel.rerun.columns import ColumnBatch
from worldforge_otel.rerun.exporter_core import CoreBackedExporter, ExportCore
from worldforge_otel.rerun.layout import metric_path, service_of
from worldforge_otel.rerun.options import RerunOptions
from worldforge_otel.rerun.sinks import RerunSink
from worldforge_otel.sanitize import clean_text, truncate


class RerunMetricExporter(CoreBackedExporter, MetricExporter):
    """Writes metric data points into a Rerun recording. Use it behind a ``PeriodicExportingMetricReader``.

    Args:
        sink: A :class:`RerunSink` you own; mutually exclusive with ``options``.
        options: Destinations of the process-wide shared sink; ``None`` fields come from ``OTEL_EXPORTER_RERUN_*``,
            then the defaults (a timestamped ``.rrd`` file). Built with no arguments, as the SDK does.
        preferred_temporality: Passed to ``MetricExporter``.
        preferred_aggregation: Passed to ``MetricExporter``.
    """

    def __init__(
        self,
        *,
        sink: RerunSink | None = None,
        options: RerunOptions | None = None,
        preferred_temporality: dict[type, AggregationTemporality] | None = None,
        preferred_aggregation: dict[type, Aggregation] | None = None,
    ) -> None:
        super().__init__(
            preferred_temporality=preferred_temporality, preferred_aggregation=preferred_aggregation
        )
        self._core = ExportCore("metrics", sink=sink, options=options)
        self._series = NameBudget("metric series", DEFAULT_MAX_METRIC_SERIES)

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        """Translate and write every data point; returns FAILURE instead of raising."""
        points = _count_points(metrics_data)
        def translate(batch: ColumnBatch) -> int:
            skipped = add_metrics(batch, metrics_data, self._series)
            add_overflow_count(batch, "metric_series_overflowed", self._series.overflowed)
            return skipped

        ok = self._core.export(points, translate)
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Flush written data within ``timeout_millis``."""
        return self._core.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Stop exporting; idempotent. Accepts the ``timeout=`` the metric reader passes."""
        self._core.shutdown(timeout_millis)

    @property
    def points_exported(self) -> int:
        """Data points written so far."""
        return self._core.exported

    @property
    def points_dropped(self) -> int:
        """Data points that could not be written."""
        return self._core.dropped


def _count_points(metrics_data: MetricsData) -> int:
    return sum(
        len(metric.data.data_points)
        for resource_metrics in metrics_data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    )


def add_metrics(batch: ColumnBatch, metrics_data: MetricsData, series: NameBudget | None = None) -> int:
    """Add one scalar row per sum/gauge point and count/sum/mean per histogram point; returns points skipped.

    With ``series``, a metric's attribute sets beyond its budget share the ``.../_other`` path.
    """
    skipped = 0
    for resource_metrics in metrics_data.resource_metrics:
        service = service_of(clean_resource(resource_metrics.resource))
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                name = clean_text(metric.name, max_chars=256)
                for point in metric.data.data_points:
                    try:
                        attributes = {  # the trust boundary: keys and values, secret-named values redacted
                            key: truncate(str(value), 128) for key, value in clean_attributes(point.attributes).items()
                        }
                        path = metric_path(service, name, attributes)
                        if series is not None and attributes:
                            base = metric_path(service, name, {})
                            if series.admit(base, path) == OVERFLOW:
                                path = f"{base}/{OVERFLOW}"
                        time_ns = point.time_unix_nano
                        if isinstance(metric.data, Sum | Gauge):
                            batch.scalar(path, float(point.value), time_ns=time_ns)  # type: ignore[union-attr]
                        elif isinstance(metric.data, Histogram | ExponentialHistogram):
                            count = int(point.count)  # type: ignore[union-attr]
                            total = float(point.sum)  # type: ignore[union-attr]
                            batch.scalar(f"{path}/count", count, time_ns=time_ns)
                            batch.scalar(f"{path}/sum", total, time_ns=time_ns)
                            if count:
                                batch.scalar(f"{path}/mean", total / count, time_ns=time_ns)
                        else:
                            skipped += 1
                    except Exception:
                        skipped += 1
    return skipped
