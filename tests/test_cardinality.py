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
    NEW_TRACES_BURST,
    NEW_TRACES_PER_SEC,
    OVERFLOW,
    RateBudget,
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
    drawn = {p.split("/")[3] for p in entity_paths(frame)} - {"waterfall"}
    assert len(drawn) == MAX_PLAIN_TRACES + 50  # the sample of plain traces, then every failing one
    health = read_rrd(path, index="worldforge_time", contents="/otel/_self/**")
    assert column_values(health, "/otel/_self/traces_not_drawn", "Scalars:scalars")[-1] == 50
    assert exporter.spans_dropped == 0


def test_waterfalls_worth_drawing_start_at_a_bounded_rate(tmp_path):
    """A burst of failing traces: the first NEW_TRACES_BURST are drawn at once, then NEW_TRACES_PER_SEC a second."""
    import time

    path = tmp_path / "burst.rrd"
    extra = 150
    started = time.monotonic()
    exporter = _web_traffic(path, NEW_TRACES_BURST + extra, failing_from=0)
    elapsed = time.monotonic() - started
    frame = read_rrd(path, index="worldforge_time", contents="/otel/traces/**")
    drawn = len({p.split("/")[3] for p in entity_paths(frame)} - {"waterfall"})
    assert NEW_TRACES_BURST <= drawn <= NEW_TRACES_BURST + int(elapsed * NEW_TRACES_PER_SEC) + 1 < drawn + extra
    health = read_rrd(path, index="worldforge_time", contents="/otel/_self/**")
    not_drawn = column_values(health, "/otel/_self/traces_not_drawn", "Scalars:scalars")[-1]
    assert not_drawn == NEW_TRACES_BURST + extra - drawn
    assert exporter.spans_dropped == 0 and exporter.spans_exported == 2 * (NEW_TRACES_BURST + extra)


def test_a_trace_left_out_stays_out_when_its_later_spans_arrive():
    """Drawing a refused trace from its later spans alone would show half a trace."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from worldforge_otel.rerun.columns import ColumnBatch
    from worldforge_otel.rerun.waterfall import TraceWaterfall

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("t")
    for name in ("a", "b", "c"):
        with tracer.start_as_current_span(f"{name} request"):
            failing = tracer.start_span(f"{name} call")
            failing.set_status(Status(StatusCode.ERROR, "boom"))  # an error: worth drawing
            failing.end()
            tracer.start_span(f"{name} call").end()
    spans = {span.name: [s for s in memory.get_finished_spans() if s.name.startswith(span.name[0])]
             for span in memory.get_finished_spans() if span.name.endswith("request")}  # fmt: skip
    now = [0.0]
    waterfall = TraceWaterfall(burst=1, per_sec=1.0, clock=lambda: now[0])

    def drawn(spans_now) -> set[str]:
        batch = ColumnBatch()
        waterfall.add(batch, spans_now)
        return {group.path.split("/")[2] for group in batch} - {"waterfall"}  # each drawn trace's tree

    b_failing, b_rest = spans["b request"][:1], spans["b request"][1:]
    assert b_failing[0].status.status_code is StatusCode.ERROR and b_rest[-1].name == "b request"
    assert len(drawn(spans["a request"])) == 1  # the one token
    assert drawn(b_failing) == set()  # none left: b is left out
    now[0] += 10.0  # tokens are back, and b's other spans arrive
    assert drawn(b_rest) == set()
    assert len(drawn(spans["c request"])) == 1
    assert waterfall.not_drawn == 1


def test_the_rate_budget_refills_with_time():
    now = [0.0]
    budget = RateBudget(2, 4.0, clock=lambda: now[0])
    assert [budget.admit() for _ in range(3)] == [True, True, False]
    now[0] += 0.25  # one token back
    assert [budget.admit() for _ in range(2)] == [True, False]
    now[0] += 100.0  # never more than the burst
    assert [budget.admit() for _ in range(3)] == [True, True, False]
    assert budget.refused == 3


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
