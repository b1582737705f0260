"""The trust boundary and the columnar export, side by side in one process on the same events.

    python benchmarks/bench_boundary.py [--events 20000] [--runs 3] [--steady-secs 10] [--capacity-secs 5]

1. Export: RerunSpanExporter.export on spans our handler built vs the baseline, rerun-sdk ``send_columns``
   writing the same rows (prebuilt, grouped per entity path) in the batch size configure() uses (4,096).
   CPU of every thread (``time.process_time``: rerun-sdk's encoder and writer threads included), and bytes.
2. configure() end to end (handler worker, BatchSpanProcessor, RerunSpanExporter, metric reader), CPU of every
   thread per ProviderEvent, vs a bare span (start/end, no-op exporter); and the calling thread's own share.
3. Sanitizer: 100 kB adversarial strings on the worker, and what the calling thread pays for them.
4. A steady producer through the deferred handler: events handled and dropped; then the highest steady rate
   (of a fixed list, from the top) it keeps up with nothing dropped.
5. Web-shaped traffic (traces of 2 spans, every request its own span name) vs WorldForge-shaped, per span.
Prints JSON and, with ``--output docs/performance.md``, writes its section of that file (between markers that
``bench_core.py`` keeps when it rewrites the rest).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any, Final

os.environ.setdefault("RERUN_ANALYTICS", "false")

import rerun as rr
from bench_core import NoOpExporter, bare_span_us, events, export_send_columns, finished_spans
from doc_sections import parser_for, raw_numbers, write_section
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import worldforge_otel
from worldforge_otel.events import EventRecord
from worldforge_otel.instrumentation.span_attributes import span_attributes
from worldforge_otel.rerun import RerunOptions, RerunSpanExporter
from worldforge_otel.sanitize import clean_text

BATCH = 4096  # configure()'s max_export_batch_size for the Rerun exporter


def export_ours(spans: list, path: Path) -> float:
    exporter = RerunSpanExporter(options=RerunOptions(save_path=path))
    started = time.process_time()
    for first in range(0, len(spans), BATCH):
        exporter.export(spans[first : first + BATCH])
    exporter.shutdown(timeout_millis=120_000)
    return time.process_time() - started


def export_baseline(spans: list, path: Path) -> float:
    return export_send_columns(spans, path, batch_size=BATCH, clock=time.process_time)


def export_side_by_side(count: int, runs: int) -> dict[str, float]:
    spans = finished_spans(count)
    best = {"baseline": float("inf"), "ours": float("inf")}
    sizes = {}
    with tempfile.TemporaryDirectory() as directory:
        for run in range(runs):  # alternating, so both see the same machine
            for name, writer in (("baseline", export_baseline), ("ours", export_ours)):
                path = Path(directory) / f"{name}{run}.rrd"
                gc.collect()  # each run starts from the same heap, not from the garbage of the one before
                best[name] = min(best[name], writer(spans, path))
                sizes[name] = path.stat().st_size
    return {"baseline_us": best["baseline"] / count * 1e6, "ours_us": best["ours"] / count * 1e6,
            "share_of_baseline": best["baseline"] / best["ours"], "baseline_bytes": sizes["baseline"] / count,
            "ours_bytes": sizes["ours"] / count, "bytes_ratio": sizes["ours"] / sizes["baseline"]}  # fmt: skip


def through_configure(items: list[Any], path: Path) -> tuple[float, float]:
    """Every item through ``configure()`` into ``path``: CPU seconds of all threads, and of the calling thread.

    The items go in bursts the default event queue holds (flushed after each), so nothing is dropped.
    """
    telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=path), set_global_providers=False)
    started, host = time.process_time(), 0.0
    for first in range(0, len(items), BATCH):
        calling = time.thread_time()
        for item in items[first : first + BATCH]:
            telemetry(item)
        host += time.thread_time() - calling
        telemetry.force_flush(600_000)
    telemetry.shutdown(600_000)
    assert telemetry.stats.events_dropped == 0
    return time.process_time() - started, host


def end_to_end(count: int, runs: int) -> dict[str, float]:
    items = events(count)

    def ours(directory: str) -> tuple[float, float]:
        total, host = through_configure(items, Path(directory) / "e2e.rrd")
        return total / count * 1e6, host / count * 1e6

    bare_us = min(bare_span_us(count, time.process_time) for _ in range(runs))
    with tempfile.TemporaryDirectory() as directory:
        results = [ours(directory) for _ in range(runs)]
    total_us, host_us = min(r[0] for r in results), min(r[1] for r in results)
    return {"bare_span_us": bare_us, "end_to_end_us": total_us, "end_to_end_ratio": total_us / bare_us,
            "host_thread_us": host_us, "host_ratio": host_us / bare_us}  # fmt: skip


def floor(count: int, runs: int, send_columns_us: float) -> dict[str, float]:
    """What any pipeline making real SDK spans and histogram measurements and writing to Rerun pays per event.

    A span with the handler's own attributes (start/end, no-op exporter), one histogram measurement with its
    four labels, and the baseline ``send_columns`` of the rows: the parts that are the SDK's and rerun-sdk's.
    """
    records = [EventRecord.from_event(event) for event in events(count)]
    attributes = [span_attributes(record, run_id=None) for record in records]

    def spans() -> float:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(NoOpExporter()))
        tracer = provider.get_tracer("bench")
        started = time.process_time()
        for values in attributes:
            tracer.start_span("predict provider0", attributes=values).end()
        return (time.process_time() - started) / count * 1e6

    def histogram() -> float:
        meter = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("bench")
        duration = meter.create_histogram("worldforge.provider.duration", unit="s")
        labels = [{"worldforge.provider": r.provider, "worldforge.operation": r.operation,
                   "worldforge.phase": r.phase, "worldforge.capability": r.operation} for r in records]  # fmt: skip
        started = time.process_time()
        for label in labels:
            duration.record(0.01, label)
        return (time.process_time() - started) / count * 1e6

    span_us = min(spans() for _ in range(runs))
    histogram_us = min(histogram() for _ in range(runs))
    return {"span_with_attributes_us": span_us, "histogram_record_us": histogram_us,
            "send_columns_us": send_columns_us, "floor_us": span_us + histogram_us + send_columns_us}  # fmt: skip


def sanitizer(size: int = 100_000) -> dict[str, dict[str, float]]:
    shapes = {"a-": "a-", "a:": "a:", "--a-": "--a-", "Bearer ": "Bearer ", "x=y&": "x=y&", "eyJa.": "eyJa.",
              "aA1_": "aA1_", "url": "https://h/a"}  # fmt: skip
    worker = {}
    for name, shape in shapes.items():
        text = (shape * (size // len(shape) + 1))[:size]
        started = time.perf_counter()
        clean_text(text, max_chars=size)
        worker[name] = (time.perf_counter() - started) * 1000
    hostile = ("a-" * (size // 2)) + " password=x"
    with tempfile.TemporaryDirectory() as directory:
        telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=Path(directory) / "s.rrd"),
                                              set_global_providers=False, log_level="INFO")  # fmt: skip
        tracer = telemetry.tracer_provider.get_tracer("bench")
        logger = logging.getLogger("bench.hostile")
        event = {"provider": "p", "operation": "predict", "phase": "success", "target": hostile}
        calls = {
            "log message": lambda: logger.warning("payload %s", hostile),
            "event target": lambda: telemetry(event),
            "span attribute": lambda: tracer.start_span("upload", attributes={"body": hostile}).end(),
        }
        logger.warning("warm-up")  # the first call of each starts threads and imports: not what is measured
        telemetry({"provider": "p", "operation": "predict", "phase": "success"})
        tracer.start_span("warm-up").end()
        host = {}
        for name, call in calls.items():
            started = time.thread_time()
            call()
            host[name] = (time.thread_time() - started) * 1e6
        telemetry.shutdown()
    return {"worker_ms_per_100kB": worker, "host_thread_us": host}


def steady(rate: int, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as directory:
        telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=Path(directory) / "steady.rrd"),
                                              set_global_providers=False)  # fmt: skip
        items = events(rate)
        sent = 0
        started = time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            due = int(elapsed * rate)
            while sent < due:
                telemetry(items[sent % rate])
                sent += 1
            time.sleep(0.001)
        telemetry.shutdown(600_000)
        stats = telemetry.stats
    return {"rate_per_s": rate, "seconds": seconds, "sent": sent, "handled": stats.events_handled,
            "dropped": stats.events_dropped, "spans_dropped": telemetry.spans_dropped}  # fmt: skip


def web_spans(count: int) -> list:
    """``count`` spans as a web app makes them: traces of a request and its db call, each request its own name."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "web"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("web")
    for n in range(count // 2):
        with tracer.start_as_current_span(f"GET /nope/{n}", attributes={"http.request.method": "GET"}):
            tracer.start_span("SELECT users", attributes={"db.system": "postgresql"}).end()
    return list(memory.get_finished_spans())


def web_shaped(count: int, runs: int) -> dict[str, float]:
    shapes = {"worldforge": finished_spans(count), "web": web_spans(count)}
    best = dict.fromkeys(shapes, float("inf"))
    sizes = {}
    with tempfile.TemporaryDirectory() as directory:
        for run in range(runs):
            for name, spans in shapes.items():
                path = Path(directory) / f"{name}{run}.rrd"
                gc.collect()
                best[name] = min(best[name], export_ours(spans, path))
                sizes[name] = path.stat().st_size
    per_span = {name: best[name] / len(spans) * 1e6 for name, spans in shapes.items()}
    size = {name: sizes[name] / len(spans) for name, spans in shapes.items()}
    return {"worldforge_us": per_span["worldforge"], "web_us": per_span["web"],
            "cost_ratio": per_span["web"] / per_span["worldforge"], "worldforge_bytes": size["worldforge"],
            "web_bytes": size["web"], "bytes_ratio": size["web"] / size["worldforge"]}  # fmt: skip


START: Final = "<!-- bench_boundary:start -->"
END: Final = "<!-- bench_boundary:end -->"


CAPACITY_RATES: Final = (16_000, 12_000, 10_000, 8_000, 6_000, 5_000, 4_000, 3_000, 2_000)


def capacity(seconds: float) -> dict[str, Any]:
    """The highest of :data:`CAPACITY_RATES` a steady producer keeps up for ``seconds`` with nothing dropped."""
    tried = {}
    for rate in CAPACITY_RATES:
        run = steady(rate, seconds)
        tried[str(rate)] = run["dropped"]
        if run["dropped"] == 0 and run["spans_dropped"] == 0:
            return {"rate_per_s": rate, "seconds": seconds, "dropped_at_higher_rates": tried}
    return {"rate_per_s": 0, "seconds": seconds, "dropped_at_higher_rates": tried}


def render(results: dict[str, Any], command: str) -> str:
    """The docs/performance.md section for ``results``."""
    export, e2e, web, steady_run = results["export"], results["end_to_end"], results["web_shaped"], results["steady"]
    low = results["floor"]
    worker = results["sanitizer"]["worker_ms_per_100kB"]
    host = results["sanitizer"]["host_thread_us"]

    def met(ok: bool) -> str:
        return "met" if ok else "**not met**"

    lines = [
        START,
        "## Trust boundary, columnar export and bounded paths (issue 15)",
        "",
        f"Measured with `{command}` ({results['python']}, rerun-sdk {results['rerun_sdk']}, {os.cpu_count()} noisy "
        f"cores), side by side in one process on the same {results['events']:,} provider-event spans. Times are "
        "**CPU of every thread** (`time.process_time()`: rerun-sdk's encoder and writer threads, our workers, the "
        "SDK's batch thread), best of the runs. This section is written by the script.",
        "",
        "| export | µs/span | bytes/span | goal |",
        "|---|---|---|---|",
        f"| baseline: `send_columns` of the same rows, prebuilt, grouped per entity path, batches of {BATCH:,} "
        f"| {export['baseline_us']:.1f} | {export['baseline_bytes']:.0f} | |",
        f"| `RerunSpanExporter.export`, batches of {BATCH:,} (configure()'s) | {export['ours_us']:.1f} "
        f"| {export['ours_bytes']:.0f} | |",
        f"| share of the baseline / bytes ratio | **{export['share_of_baseline']:.0%}** "
        f"| **{export['bytes_ratio']:.2f}×** | ≥ 25%: {met(export['share_of_baseline'] >= 0.25)}; "
        f"≤ 1.5×: {met(export['bytes_ratio'] <= 1.5)} |",
        "",
        "| `configure()` end to end, per ProviderEvent | µs | × bare span | goal |",
        "|---|---|---|---|",
        f"| bare span (start/end, no-op exporter) | {e2e['bare_span_us']:.1f} | 1.0× | |",
        f"| handler worker + BatchSpanProcessor + RerunSpanExporter + metric reader, CPU of all threads "
        f"| {e2e['end_to_end_us']:.1f} | **{e2e['end_to_end_ratio']:.1f}×** "
        f"| ≤ 4×: {met(e2e['end_to_end_ratio'] <= 4)} |",
        f"| the calling thread's own share | {e2e['host_thread_us']:.1f} | **{e2e['host_ratio']:.2f}×** "
        f"| ≤ 0.3×: {met(e2e['host_ratio'] <= 0.3)} |",
        f"| floor: a span with the handler's attributes ({low['span_with_attributes_us']:.1f}) + one histogram "
        f"measurement ({low['histogram_record_us']:.1f}) + the baseline `send_columns` ({low['send_columns_us']:.1f}) "
        f"| {low['floor_us']:.1f} | {low['floor_us'] / e2e['bare_span_us']:.1f}× | |",
        "",
        "The floor is what the OTel SDK and rerun-sdk themselves take for one ProviderEvent made into a real span "
        "and a real histogram measurement and written to Rerun, before any code of this package runs; the rest "
        f"of the end-to-end cost ({e2e['end_to_end_us'] - low['floor_us']:.0f} µs) is this package's work (reading "
        "and sanitizing the event, the queue, the counters, translating to columns, the batch processor) and what "
        "running all of it at once costs: the same SDK calls take longer on a worker that shares the GIL and the "
        "cores with the export (see \"Where one ProviderEvent's CPU goes\").",
        "",
        f"Steady producer, {steady_run['rate_per_s']:,} events/s for {steady_run['seconds']:.0f} s through the "
        f"deferred handler: {steady_run['sent']:,} sent, {steady_run['handled']:,} handled, "
        f"{steady_run['dropped']:,} dropped and counted (goal: none dropped, {met(steady_run['dropped'] == 0)}). "
        + (f"The highest steady rate kept up with nothing dropped ({results['capacity']['seconds']:.0f} s at each of "
           f"{', '.join(results['capacity']['dropped_at_higher_rates'])} events/s, from the top): "
           f"**{results['capacity']['rate_per_s']:,} events/s** (the default queue, 8,192 events, holds what the "
           "worker falls behind within that time)." if "capacity" in results else ""),
        "",
        f"Web-shaped traffic ({results['events']:,} spans in traces of 2, every request its own span name) vs the "
        f"WorldForge-shaped spans above, through the exporter: {web['web_us']:.1f} vs {web['worldforge_us']:.1f} "
        f"µs/span (**{web['cost_ratio']:.2f}×**), {web['web_bytes']:.0f} vs {web['worldforge_bytes']:.0f} bytes/span "
        f"(**{web['bytes_ratio']:.2f}×**); goal within 2×: {met(web['cost_ratio'] <= 2 and web['bytes_ratio'] <= 2)}.",
        "",
        "Sanitizer, 100 kB adversarial strings, on the worker (ms): "
        + ", ".join(f"`{name}` {ms:.0f}" for name, ms in worker.items())
        + ". The calling thread's cost (µs) with such a string "
        + ", ".join(f"as the {name}: {us:.0f}" for name, us in host.items())
        + " (the log message's share is the OTel `LoggingHandler` formatting the message, not sanitizing).",
        "",
        *raw_numbers(results),
        END,
    ]
    return "\n".join(lines)


def main() -> None:
    parser = parser_for(__doc__, events=20_000)
    parser.add_argument("--steady-rate", type=int, default=20_000)
    parser.add_argument("--steady-secs", type=float, default=10.0)
    parser.add_argument("--capacity-secs", type=float, default=5.0, help="per rate tried for the highest one kept up")
    args = parser.parse_args()
    logging.getLogger("worldforge_otel").setLevel(logging.CRITICAL)  # queue-full warnings of the steady run
    export = export_side_by_side(args.events, args.runs)
    results = {
        "python": platform.python_version(), "rerun_sdk": rr.__version__, "events": args.events, "batch": BATCH,
        "export": export,
        "end_to_end": end_to_end(args.events, args.runs),
        "floor": floor(args.events, args.runs, export["baseline_us"]),
        "sanitizer": sanitizer(),
        "steady": steady(args.steady_rate, args.steady_secs),
        "capacity": capacity(args.capacity_secs),
        "web_shaped": web_shaped(args.events, args.runs),
    }  # fmt: skip
    print(json.dumps(results, indent=2))
    if args.output is not None:
        command = (f"python benchmarks/bench_boundary.py --events {args.events} --runs {args.runs} "
                   f"--steady-secs {args.steady_secs:g} --capacity-secs {args.capacity_secs:g} "
                   f"--output {args.output}")  # fmt: skip
        write_section(args.output, render(results, command), start=START, end=END, first_time_at_top=True)


if __name__ == "__main__":
    main()
