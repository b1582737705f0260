"""Side-by-side benchmark of the core bridge; writes docs/performance.md.

    python benchmarks/bench_core.py [--events 10000] [--output docs/performance.md]

1. Host-thread cost per ProviderEvent: our handler (span + metrics, BatchSpanProcessor) vs a bare span
   start/end with a no-op processor, in the same run.
2. Export throughput into an .rrd: RerunSpanExporter vs rerun-sdk writing the same rows with send_columns
   (the physical limit) vs one rr.log per row (the naive design), plus bytes per event.
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
from worldforge_otel.rerun.span_exporter import add_provider_event


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


def host_cost(count: int) -> dict[str, float]:
    items = events(count)
    bare_provider = TracerProvider()
    bare_provider.add_span_processor(SimpleSpanProcessor(NoOpExporter()))
    tracer = bare_provider.get_tracer("bench")

    def bare() -> float:
        started = time.perf_counter()
        for _ in range(count):
            tracer.start_span("predict mock").end()
        return (time.perf_counter() - started) / count * 1e6

    ours_provider = TracerProvider()
    ours_provider.add_span_processor(BatchSpanProcessor(NoOpExporter(), max_queue_size=count * 2))
    handler = ProviderEventHandler(tracer_provider=ours_provider, meter_provider=MeterProvider())

    def ours() -> float:
        started = time.perf_counter()
        for item in items:
            handler(item)
        elapsed = (time.perf_counter() - started) / count * 1e6
        ours_provider.force_flush()
        return elapsed

    bare_us, ours_us = best_of(5, bare), best_of(5, ours)
    bare_provider.shutdown()
    ours_provider.shutdown()
    return {"bare_span_us": bare_us, "handler_us": ours_us, "ratio": ours_us / bare_us}


def finished_spans(count: int) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    handler = ProviderEventHandler(tracer_provider=provider, meter_provider=MeterProvider())
    for item in events(count):
        handler(item)
    return list(memory.get_finished_spans())


def nested_spans(count: int, per_trace: int = 10) -> list[ReadableSpan]:
    """``count`` spans in traces of ``per_trace``: one host span around ``per_trace - 1`` provider calls."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    handler = ProviderEventHandler(tracer_provider=provider, meter_provider=MeterProvider())
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


def export_send_columns(spans: list[ReadableSpan], path: Path) -> float:
    """The same rows, already grouped, written straight with send_columns (no translation cost)."""
    batches = []
    for first in range(0, len(spans), 512):
        batch = ColumnBatch()
        for offset, span in enumerate(spans[first : first + 512]):
            add_provider_event(batch, span, sequence=first + offset)
        batches.append(list(batch))
    recording = rr.RecordingStream("bench", recording_id="send_columns")
    recording.set_sinks(rr.FileSink(str(path)))
    started = time.perf_counter()
    for groups in batches:
        for group in groups:
            indexes = [rr.TimeColumn("worldforge_time", timestamp=np.asarray(group.times_ns, dtype="datetime64[ns]")),
                       rr.TimeColumn("worldforge_event", sequence=group.sequences)]
            if group.kind.value == "TextLog":
                columns = rr.TextLog.columns(text=group.values, level=group.levels)
            elif group.kind.value == "TextDocument":
                columns = rr.TextDocument.columns(text=group.values, media_type=["text/plain"] * len(group.values))
            else:
                columns = rr.Scalars.columns(scalars=np.asarray(group.values, dtype=np.float64))
            rr.send_columns(group.path, indexes=indexes, columns=columns, recording=recording)
    close(recording)
    return time.perf_counter() - started


def export_naive(spans: list[ReadableSpan], path: Path) -> float:
    """One rr.log per row, synchronously, as the reference design's event sink does."""
    rows = []
    for index, span in enumerate(spans):
        batch = ColumnBatch()
        add_provider_event(batch, span, sequence=index)
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
) -> str:
    limit = export["send_columns"]
    ours = export["RerunSpanExporter"]
    lines = [
        "# Performance",
        "",
        f"Measured with `python benchmarks/bench_core.py --events {count}` on {platform.python_version()}, "
        f"rerun-sdk {rr.__version__}, {os.cpu_count()} cores (noisy shared machine: read the ratios, "
        "absolute times are context only).",
        "",
        "## Host-thread cost per ProviderEvent (best of 5)",
        "",
        "| | µs/event | ratio |",
        "|---|---|---|",
        f"| bare span start/end, no-op processor | {host['bare_span_us']:.1f} | 1.00× |",
        f"| `ProviderEventHandler` (sanitize + span + 4 metrics, BatchSpanProcessor) | {host['handler_us']:.1f} "
        f"| {host['ratio']:.2f}× |",
        "",
        f"## Export into an .rrd ({count} provider-event spans, 3 rows each)",
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
        f"## Cost of the trace waterfall ({count} spans in traces of 10: a host span around 9 provider calls)",
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
        "What this shows:",
        "",
        "- The handler costs several times a bare span on the host thread: the span with ~15 attributes, four",
        "  metric instrument calls and sanitization of every field. The goal in issue #7 (<= 1.5x) is not met yet.",
        "- Bytes per event: with many distinct entity paths in a 512-span batch, each `send_columns` chunk holds",
        "  only a few rows, so per-chunk overhead dominates; rerun-sdk's own batcher merges `rr.log` rows into",
        "  larger chunks, which is why the naive writer produces fewer bytes here despite being slower.",
        "",
        "Raw numbers:",
        "",
        "```json",
        json.dumps({"host": host, "export": export, "waterfall": waterfall}, indent=2),
        "```",
        "",
    ]
    text = "\n".join(lines)
    output.write_text(text, encoding="utf-8")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parents[1] / "docs/performance.md")
    args = parser.parse_args()
    host = host_cost(args.events)
    export = throughput(args.events)
    waterfall = waterfall_cost(args.events)
    print(write_report(args.output, args.events, host, export, waterfall))


if __name__ == "__main__":
    main()
