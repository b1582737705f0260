"""Side-by-side benchmark of the core bridge; writes docs/performance.md.

    python benchmarks/bench_core.py [--events 10000] [--output docs/performance.md]

1. Host-thread cost per ProviderEvent: our handler (span + metrics, BatchSpanProcessor) vs a bare span
   start/end with a no-op processor, in the same run (deferred and on the calling thread).
2. Export throughput into an .rrd: RerunSpanExporter vs rerun-sdk writing the same rows with send_columns
   (the physical limit) vs one rr.log per row (the naive design), plus bytes per event.
3. The trace waterfall's cost; with ``--scale N``: N events through configure() (10k/100k/1M checkpoints, RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault("RERUN_ANALYTICS", "false")

import numpy as np
import rerun as rr
from doc_sections import raw_numbers, write_section
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from worldforge_otel.demo import DemoEvent
from worldforge_otel.instrumentation import ProviderEventHandler
from worldforge_otel.rerun import RerunOptions, RerunSpanExporter
from worldforge_otel.rerun.columns import ColumnBatch
from worldforge_otel.rerun.lanes import add_lanes
from worldforge_otel.rerun.span_exporter import add_provider_events

START = "<!-- bench_core:start -->"
END = "<!-- bench_core:end -->"


class NoOpExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def events(count: int) -> list[DemoEvent]:
    phases = ("success", "success", "success", "retry", "failure")
    return [
        DemoEvent(f"provider{i % 4}", ("predict", "plan", "generate")[i % 3], phases[i % 5],
                  attempt=1, max_attempts=3, duration_ms=float(i % 97), metadata={"steps": i % 7})
        for i in range(count)
    ]


def best_of(runs: int, action: Callable[[], float]) -> float:
    return min(action() for _ in range(runs))


def bare_span_us(count: int, clock: Callable[[], float] = time.perf_counter) -> float:
    """µs per bare span: start/end on a provider with a no-op exporter (the unit the goals are stated in)."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(NoOpExporter()))
    tracer = provider.get_tracer("bench")
    started = clock()
    for _ in range(count):
        tracer.start_span("predict mock").end()
    elapsed = clock() - started
    provider.shutdown()
    return elapsed / count * 1e6


def host_cost(count: int) -> dict[str, float]:
    """µs per event on the calling thread: bare span vs our handler, deferred (default) and on the calling thread.

    The deferred handler is measured with a queue large enough for the whole run, by wall time and by the
    calling thread's own CPU time (``time.thread_time``: without the worker's share of the GIL).
    """
    items = events(count)

    def ours(deferred: bool, clock: Callable[[], float]) -> Callable[[], float]:
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(NoOpExporter(), max_queue_size=count * 2))
        handler = ProviderEventHandler(tracer_provider=provider, meter_provider=MeterProvider(), deferred=deferred,
                                       max_queue_size=count * 2)

        def run() -> float:
            started = clock()
            for item in items:
                handler(item)
            elapsed = (clock() - started) / count * 1e6
            handler.force_flush(600_000)
            provider.force_flush()
            return elapsed

        return run

    bare_us = best_of(5, lambda: bare_span_us(count))
    deferred_wall = best_of(5, ours(True, time.perf_counter))
    deferred_cpu = best_of(5, ours(True, time.thread_time))
    sync_us = best_of(5, ours(False, time.perf_counter))
    return {"bare_span_us": bare_us, "deferred_wall_us": deferred_wall, "deferred_thread_cpu_us": deferred_cpu,
            "calling_thread_us": sync_us, "ratio": deferred_cpu / bare_us, "ratio_wall": deferred_wall / bare_us,
            "ratio_calling_thread": sync_us / bare_us}


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def scale(total: int, directory: Path) -> dict[str, object]:
    """``total`` events through configure() into an .rrd, in flushed bursts (so nothing is dropped):
    end-to-end µs/event and RSS at about 10k, 100k and 1M."""
    import worldforge_otel

    telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=directory / "scale.rrd"),
                                          set_global_providers=False)
    burst = 4_096  # fits the default event queue (8,192), so a burst is never dropped
    template = events(burst)
    checkpoints: list[dict[str, float]] = []
    started = time.perf_counter()
    sent = 0
    baseline_rss = None
    while sent < total:
        size = min(burst, total - sent)
        for item in template[:size]:
            telemetry(item)
        before = sent
        sent += size
        telemetry.force_flush(600_000)
        if before < 10_000 <= sent:
            baseline_rss = rss_mb()
        if any(before < mark <= sent for mark in (10_000, 100_000, 1_000_000)) or sent == total:
            checkpoints.append({"events": sent, "seconds": time.perf_counter() - started, "rss_mb": rss_mb(),
                                "us_per_event": (time.perf_counter() - started) / sent * 1e6})
    telemetry.shutdown(600_000)
    stats = telemetry.stats
    return {"checkpoints": checkpoints, "rss_growth_after_10k_mb": rss_mb() - (baseline_rss or 0.0),
            "handled": stats.events_handled, "dropped": stats.events_dropped,
            "spans_exported": telemetry.spans_exported, "spans_dropped": telemetry.spans_dropped,
            "rrd_bytes": (directory / "scale.rrd").stat().st_size}


def finished_spans(count: int) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    handler = ProviderEventHandler(tracer_provider=provider, meter_provider=MeterProvider(), deferred=False)
    for item in events(count):
        handler(item)
    return list(memory.get_finished_spans())


def nested_spans(count: int, per_trace: int = 10) -> list[ReadableSpan]:
    """``count`` spans in traces of ``per_trace``: one host span around ``per_trace - 1`` provider calls."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    handler = ProviderEventHandler(tracer_provider=provider, meter_provider=MeterProvider(), deferred=False)
    items = iter(events(count))
    for _ in range(count // per_trace):
        with tracer.start_as_current_span("world.plan"):
            for _, item in zip(range(per_trace - 1), items, strict=False):
                handler(item)
    return list(memory.get_finished_spans())


def waterfall_cost(count: int) -> dict[str, dict[str, float]]:
    spans = nested_spans(count)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as directory:
        for name, waterfall in (("waterfall off", False), ("waterfall on", True)):
            path = Path(directory) / f"{name.replace(' ', '_')}.rrd"
            seconds = export_ours(spans, path, waterfall=waterfall)
            results[name] = {"spans_per_s": len(spans) / seconds, "bytes_per_event": path.stat().st_size / len(spans)}
    return results


def close(recording: rr.RecordingStream) -> None:
    try:
        recording.flush(timeout_sec=60)
    except TypeError:
        recording.flush(blocking=True)
    recording.disconnect()


def export_ours(spans: list[ReadableSpan], path: Path, *, waterfall: bool = True) -> float:
    exporter = RerunSpanExporter(options=RerunOptions(save_path=path), waterfall=waterfall)
    started = time.perf_counter()
    for first in range(0, len(spans), 512):  # BatchSpanProcessor's default batch size
        exporter.export(spans[first : first + 512])
    exporter.shutdown(timeout_millis=60_000)
    return time.perf_counter() - started


def export_send_columns(spans: list[ReadableSpan], path: Path, *, batch_size: int = 512,
                        clock: Callable[[], float] = time.perf_counter) -> float:  # fmt: skip
    """The same rows, already grouped, written straight with send_columns (no translation cost).

    The same rows as the exporter writes: the events' log lines, payloads and durations, and (where rerun-sdk
    has StateChange) their lanes.
    """
    batches = []
    with_lanes = hasattr(rr, "StateChange")
    for first in range(0, len(spans), batch_size):
        batch = ColumnBatch()
        chunk = spans[first : first + batch_size]
        lanes: list = [] if with_lanes else None
        add_provider_events(batch, [(span, dict(span.attributes or {})) for span in chunk], first, lanes=lanes)
        if lanes:
            add_lanes(batch, lanes)
        batches.append(list(batch))
    recording = rr.RecordingStream("bench", recording_id="send_columns")
    recording.set_sinks(rr.FileSink(str(path)))
    started = clock()
    for groups in batches:
        for group in groups:
            indexes = [rr.TimeColumn("worldforge_time", timestamp=np.asarray(group.times_ns, dtype="datetime64[ns]"))]
            if group.sequences is not None:
                indexes.append(rr.TimeColumn("worldforge_event", sequence=group.sequences))
            if group.kind.value == "StateChange":
                columns = rr.StateChange.columns(state=group.values)
            elif group.kind.value == "TextLog":
                columns = rr.TextLog.columns(text=group.values, level=group.levels)
            elif group.kind.value == "TextDocument":
                columns = rr.TextDocument.columns(text=group.values, media_type=["text/plain"] * len(group.values))
            else:
                columns = rr.Scalars.columns(scalars=np.asarray(group.values, dtype=np.float64))
            rr.send_columns(group.path, indexes=indexes, columns=columns, recording=recording)
    close(recording)
    return clock() - started


def export_naive(spans: list[ReadableSpan], path: Path) -> float:
    """One rr.log per row, synchronously, as the reference design's event sink does."""
    rows = []
    for index, span in enumerate(spans):
        batch = ColumnBatch()
        add_provider_events(batch, [(span, dict(span.attributes or {}))], index)
        rows.append(list(batch))
    recording = rr.RecordingStream("bench", recording_id="naive")
    recording.set_sinks(rr.FileSink(str(path)))
    started = time.perf_counter()
    for index, groups in enumerate(rows):
        recording.set_time("worldforge_event", sequence=index)
        for group in groups:
            if group.kind.value == "TextLog":
                recording.log(group.path, rr.TextLog(str(group.values[0]), level=group.levels[0]))
            elif group.kind.value == "TextDocument":
                recording.log(group.path, rr.TextDocument(str(group.values[0])))
            else:
                recording.log(group.path, rr.Scalars(float(group.values[0])))
    close(recording)
    return time.perf_counter() - started


def throughput(count: int) -> dict[str, dict[str, float]]:
    spans = finished_spans(count)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as directory:
        for name, run in (("send_columns", export_send_columns), ("RerunSpanExporter", export_ours),
                          ("naive rr.log", export_naive)):
            path = Path(directory) / f"{name.replace(' ', '_')}.rrd"
            seconds = run(spans, path)
            results[name] = {"spans_per_s": count / seconds, "bytes_per_event": path.stat().st_size / count}
    return results


def write_report(
    output: Path,
    count: int,
    host: dict[str, float],
    export: dict[str, dict[str, float]],
    waterfall: dict[str, dict[str, float]],
    scaled: dict[str, object] | None,
) -> str:
    limit = export["send_columns"]
    ours = export["RerunSpanExporter"]
    lines = [
        START,
        "## The core bridge: host-thread cost, export, waterfall, scale",
        "",
        f"Measured with `python benchmarks/bench_core.py --events {count}"
        + (f" --scale {scaled['handled'] + scaled['dropped']}`" if scaled else "`")  # type: ignore[operator]
        + f" on {platform.python_version()}, "
        f"rerun-sdk {rr.__version__}, {os.cpu_count()} cores (noisy shared machine: read the ratios, "
        "absolute times are context only).",
        "",
        "### Host-thread cost per ProviderEvent (best of 5)",
        "",
        "| | µs/event | ratio | goal |",
        "|---|---|---|---|",
        f"| bare span start/end, no-op processor | {host['bare_span_us']:.1f} | 1.00× | |",
        f"| `ProviderEventHandler`, deferred (default): calling thread's CPU time | "
        f"{host['deferred_thread_cpu_us']:.1f} | {host['ratio']:.2f}× "
        f"| ≤ 1.5× {'met' if host['ratio'] <= 1.5 else 'missed'} |",
        f"| same, wall time of the calling loop (includes the worker's share of the GIL) | "
        f"{host['deferred_wall_us']:.1f} | {host['ratio_wall']:.2f}× | |",
        f"| `ProviderEventHandler(deferred=False)`: span + metrics + sanitizing the event on the calling thread | "
        f"{host['calling_thread_us']:.1f} | {host['ratio_calling_thread']:.2f}× | |",
        "",
        "The deferred handler takes a snapshot of the event and the current trace context and appends it to a",
        "bounded queue; a worker thread builds the span (with the captured parent and the event's own start and",
        "end times) and records the metrics. Python's GIL makes the worker's work compete with a host that does",
        "nothing but emit events in a tight loop (the wall-time row); a real service's thread pays the snapshot.",
        "",
        f"### Export into an .rrd ({count} provider-event spans, 3 rows each)",
        "",
        "| writer | spans/s | vs send_columns | bytes/event |",
        "|---|---|---|---|",
    ]
    for name, values in export.items():
        lines.append(f"| {name} | {values['spans_per_s']:,.0f} | {values['spans_per_s'] / limit['spans_per_s']:.0%} "
                     f"| {values['bytes_per_event']:.0f} |")
    lines += [
        "",
        f"RerunSpanExporter reaches {ours['spans_per_s'] / limit['spans_per_s']:.0%} of raw `send_columns` "
        f"throughput (it also translates every span into rows) and writes "
        f"{ours['bytes_per_event'] / limit['bytes_per_event']:.2f}× its bytes per event; it is "
        f"{ours['spans_per_s'] / export['naive rr.log']['spans_per_s']:.0f}× faster than one `rr.log` per row.",
        "",
        f"### Cost of the trace waterfall ({count} spans in traces of 10: a host span around 9 provider calls)",
        "",
        "| RerunSpanExporter | spans/s | bytes/span |",
        "|---|---|---|",
        *[f"| {name} | {v['spans_per_s']:,.0f} | {v['bytes_per_event']:.0f} |" for name, v in waterfall.items()],
        "",
        "Every export re-draws each trace it touches (`otel/traces/<trace>/{spans,events,tree}`: bars, event",
        "points, the span tree), so a trace costs a few Rerun chunks per export batch. An earlier design with one",
        "entity per span measured 3,034 spans/s and 5,845 bytes/span here. A trace of a single span is not drawn,",
        "so the table above (lone provider calls) is unaffected. `RerunSpanExporter(waterfall=False)` turns it off.",
        "",
        *(_scale_lines(scaled) if scaled else []),
        "What this shows:",
        "",
        "- On the calling thread (deferred=False) the handler costs several times a bare span: the span with ~11",
        "  attributes, its metric measurements and sanitization of every field. Deferred, the host pays the",
        "  snapshot only; the rest moves to the worker, whose queue is bounded (drops are counted in stats).",
        "- Bytes per event: with many distinct entity paths in a 512-span batch, each `send_columns` chunk holds",
        "  only a few rows, so per-chunk overhead dominates; rerun-sdk's own batcher merges `rr.log` rows into",
        "  larger chunks, which is why the naive writer produces fewer bytes here despite being slower.",
        "- Chunks cost memory too: rerun-sdk keeps ~2.4 KB of native memory per chunk written (measured with",
        "  plain `send_columns`: 9,600 chunks of 40 rows grew RSS by 23 MB, 960 chunks of 400 rows by 2 MB).",
        "  configure() therefore gives the Rerun span processor batches of up to 4,096 spans (queue 16,384)",
        "  unless OTEL_BSP_* or batch= size them; the scale run above uses those defaults.",
        "",
        "Raw numbers:",
        "",
        *raw_numbers({"host": host, "export": export, "waterfall": waterfall, "scale": scaled}),
        END,
    ]
    text = "\n".join(lines)
    write_section(output, text, start=START, end=END, first_time_at_top=False)  # the other scripts' sections stay
    return text


def _scale_lines(scaled: dict[str, object]) -> list[str]:
    rows = scaled["checkpoints"]
    assert isinstance(rows, list)
    growth = scaled["rss_growth_after_10k_mb"]
    assert isinstance(growth, float)
    running = rows[-1]["rss_mb"] - rows[0]["rss_mb"]
    return [
        "### Scaling and memory: configure() end to end into an .rrd",
        "",
        "Events in bursts of 4,096, each burst flushed (so the bounded queue never overflows and every event is",
        "written): handler worker, BatchSpanProcessor, RerunSpanExporter and the metric reader, all in one process.",
        "",
        "| events | seconds | µs/event (end to end) | RSS MB |",
        "|---|---|---|---|",
        *[f"| {r['events']:,} | {r['seconds']:.1f} | {r['us_per_event']:.1f} | {r['rss_mb']:.0f} |" for r in rows],
        "",
        f"RSS growth from the first 10,000 events to the last, while running: {running:.1f} MB (goal < 100 MB: "
        f"{'met' if running < 100 else 'missed'}); after `shutdown()`, which closes the recording: {growth:.1f} MB "
        "(not investigated further; a likely cause is rerun-sdk 0.41 building the file footer, an index of "
        "every chunk, at close). "
        f"Handled {scaled['handled']:,}, dropped {scaled['dropped']:,}; "
        f"spans exported to Rerun {scaled['spans_exported']:,}, lost {scaled['spans_dropped']:,}; "
        f"recording {scaled['rrd_bytes']:,} bytes.",
        "",
    ]


def render_from(report: Path, output: Path) -> str:
    """Re-render a report from the raw numbers embedded in an earlier one (no re-measuring)."""
    raw = json.loads(report.read_text(encoding="utf-8").split("```json", 1)[1].split("```", 1)[0])
    count = int(report.read_text(encoding="utf-8").split("--events ", 1)[1].split()[0].rstrip("`"))
    return write_report(output, count, raw["host"], raw["export"], raw["waterfall"], raw["scale"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--scale", type=int, default=0, help="also run this many events through configure()")
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parents[1] / "docs/performance.md")
    args = parser.parse_args()
    host = host_cost(args.events)
    export = throughput(args.events)
    waterfall = waterfall_cost(args.events)
    scaled = None
    if args.scale:
        with tempfile.TemporaryDirectory() as directory:
            scaled = scale(args.scale, Path(directory))
    print(write_report(args.output, args.events, host, export, waterfall, scaled))


if __name__ == "__main__":
    main()
