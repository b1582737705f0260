"""Where one ProviderEvent's CPU goes in ``configure()``: the OTel SDK's parts, ours, and each thread's share.

    python benchmarks/bench_parts.py [--events 20480] [--runs 3] [--output docs/performance.md]

1. Parts, each alone on the same events, CPU per event (best of the runs): reading the event, its attributes,
   a bare span, a span with the handler's attributes, a span made as the handler makes it, one histogram
   measurement, the handler's metrics per batch, and the handler's whole worker batch (all of these together,
   on this thread, no other thread running).
2. The same worker inside ``configure()`` end to end (RerunSpanExporter behind the BatchSpanProcessor): the CPU
   of the handler's worker batches, of ``export()`` (and the sink write within it), of the calling thread, and
   the rest (rerun-sdk's threads, the batch processor's loop, the metric reader), measured with
   ``time.thread_time()`` around those calls.

The section of ``--output`` between the ``bench_parts`` markers is replaced.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

os.environ.setdefault("RERUN_ANALYTICS", "false")

from bench_boundary import through_configure
from bench_core import NoOpExporter, events
from doc_sections import parser_for, raw_numbers, write_section
from opentelemetry import context as otel_context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from worldforge_otel import semconv
from worldforge_otel.events import EventRecord, snapshot
from worldforge_otel.instrumentation.handler import ProviderEventHandler
from worldforge_otel.instrumentation.metrics import ProviderMetrics
from worldforge_otel.instrumentation.span_attributes import span_attributes
from worldforge_otel.rerun import exporter_core, sinks

START: Final = "<!-- bench_parts:start -->"
END: Final = "<!-- bench_parts:end -->"


def parts(count: int, runs: int) -> dict[str, float]:
    """CPU µs per event of each part alone."""
    items = events(count)
    snapshots = [snapshot(item) for item in items]
    records = [EventRecord.from_snapshot(fields) for fields in snapshots]
    attributes = [span_attributes(record, run_id=None) for record in records]
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(NoOpExporter()))
    tracer = provider.get_tracer("bench")
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    histogram = meter_provider.get_meter("bench").create_histogram("h", unit="s")
    labels = {"a": "b", "c": "d", "e": "f", "g": "h"}
    metrics = ProviderMetrics(meter_provider)
    handler = ProviderEventHandler(tracer_provider=provider, meter_provider=meter_provider)
    now, context = time.time_ns(), otel_context.get_current()

    def as_handler() -> None:
        for record, values in zip(records, attributes, strict=True):
            name = semconv.span_name(record.operation, record.provider)
            span = tracer.start_span(name, context=context, kind=SpanKind.CLIENT, attributes=values,
                                     start_time=now - 1000)  # fmt: skip
            span.end(end_time=now)

    def worker() -> Callable[[], None]:
        batches = [[(fields, now, context) for fields in snapshots[first : first + 512]]
                   for first in range(0, count, 512)]  # fmt: skip
        return lambda: [handler._record_batch(batch) for batch in batches]  # the worker's own step

    actions: dict[str, Callable[[], object]] = {
        "snapshot (calling thread)": lambda: [snapshot(item) for item in items],
        "EventRecord.from_snapshot": lambda: [EventRecord.from_snapshot(fields) for fields in snapshots],
        "span_attributes": lambda: [span_attributes(record, run_id=None) for record in records],
        "bare span": lambda: [tracer.start_span("x").end() for _ in records],
        "span with the handler's attributes": lambda: [tracer.start_span("x", attributes=a).end() for a in attributes],
        "span as the handler makes it": as_handler,
        "one histogram measurement": lambda: [histogram.record(0.01, labels) for _ in records],
        "the handler's metrics (batches of 512)": lambda: [
            metrics.record_batch(records[first : first + 512]) for first in range(0, count, 512)
        ],
    }
    results = {}
    for name, action in actions.items():
        results[name] = _best(runs, count, action)
    results["the handler's whole worker batch"] = min(_timed(count, worker()) for _ in range(runs))
    return results


def _best(runs: int, count: int, action: Callable[[], object]) -> float:
    return min(_timed(count, action) for _ in range(runs))


def _timed(count: int, action: Callable[[], object]) -> float:
    started = time.process_time()
    action()
    return (time.process_time() - started) / count * 1e6


def threads(count: int, runs: int) -> dict[str, float]:
    """``configure()`` end to end, the CPU of the calls that make up one event, per event (best total of the runs)."""
    spent: collections.Counter[str] = collections.Counter()

    def timed(name: str, function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.thread_time() - started

        return wrapper

    measured = [(ProviderEventHandler, "_record_batch", "handler worker"), (exporter_core.ExportCore, "export",
                "export()"), (sinks.RerunSink, "write", "sink write, within export()")]  # fmt: skip
    originals = [getattr(owner, attribute) for owner, attribute, _ in measured]
    for (owner, attribute, label), original in zip(measured, originals, strict=True):
        setattr(owner, attribute, timed(label, original))
    items = events(count)
    best: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory() as directory:
            for run in range(runs):
                spent.clear()
                total, host = through_configure(items, Path(directory) / f"{run}.rrd")
                result = {"total": total, "calling thread": host, **spent}
                result["rest: rerun-sdk threads, batch loop, metric reader"] = (
                    total - host - spent["handler worker"] - spent["export()"]
                )
                if not best or total < best["total"] * count / 1e6:
                    best = {name: value / count * 1e6 for name, value in result.items()}
    finally:
        for (owner, attribute, _), original in zip(measured, originals, strict=True):
            setattr(owner, attribute, original)
    return best


def render(results: dict[str, Any], command: str) -> str:
    """The docs/performance.md section."""
    alone, together = results["parts"], results["threads"]
    lines = [
        START,
        "## Where one ProviderEvent's CPU goes",
        "",
        f"Measured with `{command}` ({results['python']}, {os.cpu_count()} noisy cores): each part alone on the "
        f"same {results['events']:,} events, CPU µs per event, best of the runs. This section is written by the "
        "script.",
        "",
        "| part, alone | µs/event |",
        "|---|---|",
        *(f"| {name} | {value:.1f} |" for name, value in alone.items()),
        "",
        "The same work inside `configure()` end to end, by where it ran (`time.thread_time()` around the calls; "
        "the best total of the runs):",
        "",
        "| where | µs/event |",
        "|---|---|",
        *(f"| {name} | {value:.1f} |" for name, value in together.items()),
        "",
        *raw_numbers(results),
        END,
    ]
    return "\n".join(lines)


def main() -> None:
    parser = parser_for(__doc__, events=20_480)
    args = parser.parse_args()
    logging.getLogger("worldforge_otel").setLevel(logging.CRITICAL)
    results = {"python": ".".join(map(str, __import__("sys").version_info[:3])), "events": args.events,
               "parts": parts(args.events, args.runs), "threads": threads(args.events, args.runs)}  # fmt: skip
    print(json.dumps(results, indent=2))
    if args.output is not None:
        command = f"python benchmarks/bench_parts.py --events {args.events} --runs {args.runs} --output {args.output}"
        write_section(args.output, render(results, command), start=START, end=END, first_time_at_top=False)


if __name__ == "__main__":
    main()
