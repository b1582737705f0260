"""Bounded entity paths: span names, trace waterfalls and metric series a sender chooses cannot grow them forever.

Each test writes a real recording, reads it back and counts its entity paths and the overflow counters.
"""

from __future__ import annotations

import logging

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from conftest import column_values, entity_paths, needs_rerun, read_rrd
from worldforge_otel.rerun import RerunMetricExporter, RerunOptions, RerunSpanExporter
from worldforge_otel.rerun.cardinality import (
    DEFAULT_MAX_METRIC_SERIES,
    DEFAULT_MAX_SPAN_NAMES,
    MAX_PLAIN_TRACES,
    OVERFLOW,
)

pytestmark = needs_rerun
SPANS = "/otel/spans/web"


def _web_traffic(path, traces: int, *, failing_from: int | None = None) -> RerunSpanExporter:
    """``traces`` traces of 2 spans (a request and its db call), each request with its own name, as a web app."""
    exporter = RerunSpanExporter(options=RerunOptions(save_path=path))
    provider = TracerProvider(resource=Resource.create({"service.name": "web"}))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=8192, max_export_batch_size=2048))
    tracer = provider.get_tracer("web")
    for n in range(traces):
        with tracer.start_as_current_span(f"GET /nope/{n}") as request:
            with tracer.start_as_current_span("SELECT users"):
                pass
            if failing_from is not None and n >= failing_from:
                request.set_status(Status(StatusCode.ERROR, "boom"))
    provider.shutdown()
    return exporter


def test_span_names_beyond_the_budget_share_the_overflow_path_and_keep_their_name(tmp_path, caplog):
    path = tmp_path / "names.rrd"
    with caplog.at_level(logging.WARNING, logger="worldforge_otel"):
        exporter = _web_traffic(path, 1000)
    assert exporter.spans_exported == 2000 and exporter.spans_dropped == 0
    frame = read_rrd(path, index="worldforge_time", contents=f"{SPANS}/**")
    names = {p.split("/")[4] for p in entity_paths(frame)}
    assert len(names) == DEFAULT_MAX_SPAN_NAMES + 1 and OVERFLOW in names  # 255 requests, the db call, _other
    overflow_lines = column_values(frame, f"{SPANS}/{OVERFLOW}/log", "TextLog:text")
    assert len(overflow_lines) == 1000 - (DEFAULT_MAX_SPAN_NAMES - 1)
    assert overflow_lines[-1].startswith("GET /nope/999 · ")  # the full name stays in the line
    health = read_rrd(path, index="worldforge_time", contents="/otel/_self/**")
    assert column_values(health, "/otel/_self/span_names_overflowed", "Scalars:scalars")[-1] == len(overflow_lines)
    assert sum("distinct span names" in r.getMessage() for r in caplog.records) == 1  # said once


def test_plain_trace_waterfalls_are_a_bounded_sample_and_failing_traces_are_still_drawn(tmp_path):
    path = tmp_path / "traces.rrd"
    exporter = _web_traffic(path, MAX_PLAIN_TRACES + 100, failing_from=MAX_PLAIN_TRACES + 50)
    frame = read_rrd(path, index="worldforge_time", contents="/otel/traces/**")
    drawn = {p.split("/")[3] for p in entity_paths(frame)}
    assert len(drawn) == MAX_PLAIN_TRACES + 50  # the sample of plain traces, then every failing one
    health = read_rrd(path, index="worldforge_time", contents="/otel/_self/**")
    assert column_values(health, "/otel/_self/traces_not_drawn", "Scalars:scalars")[-1] == 50
    assert exporter.spans_dropped == 0


def test_metric_series_beyond_the_budget_share_the_overflow_path(tmp_path):
    path = tmp_path / "series.rrd"
    exporter = RerunMetricExporter(options=RerunOptions(save_path=path))
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=Resource.create({"service.name": "web"}), metric_readers=[reader])
    counter = provider.get_meter("web").create_counter("requests")
    for n in range(DEFAULT_MAX_METRIC_SERIES + 44):
        counter.add(1, {"user.id": f"u{n}"})
    provider.shutdown()
    frame = read_rrd(path, index="worldforge_time", contents="/otel/metrics/**")
    series = [p for p in entity_paths(frame) if p.startswith("/otel/metrics/web/requests/")]
    assert len(series) == DEFAULT_MAX_METRIC_SERIES + 1 and "/otel/metrics/web/requests/_other" in series
    assert column_values(frame, "/otel/metrics/web/requests/_other", "Scalars:scalars") == [1.0]  # 44 at one time
    health = read_rrd(path, index="worldforge_time", contents="/otel/_self/**")
    assert column_values(health, "/otel/_self/metric_series_overflowed", "Scalars:scalars")[-1] == 44
