"""Collector mode throughput: spans/s that `worldforge-otel receive` takes in and writes, vs in-process export.

    python benchmarks/bench_collector.py [--spans 20000] [--batch 512] [--output docs/collector-mode.md]

The same spans (provider events in traces of 10: a host span around 9 calls, as in bench_core) go:
1. in-process: ``RerunSpanExporter.export`` in batches of ``--batch`` (the baseline: no network, no decoding);
2. to the real ``worldforge-otel receive`` subprocess over OTLP/gRPC, and 3. over OTLP/HTTP (protobuf), each
   batch sent by the SDK's own OTLP exporter from this process.
For the receiver, "received" is the spans/s the senders got answered at (decoded and queued), and "written"
is spans/s until the receiver, stopped with SIGTERM right after the last answer, had written and closed
its recording. Both share this machine's cores with the sender. The table replaces the part of
docs/collector-mode.md between its ``bench`` markers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RERUN_ANALYTICS", "false")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from worldforge_otel.demo import DemoEvent
from worldforge_otel.instrumentation import ProviderEventHandler
from worldforge_otel.rerun import RerunOptions, RerunSpanExporter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from otlp_backend import free_port, wait_for_port

START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def make_spans(count: int) -> list[ReadableSpan]:
    """``count`` spans: traces of a host span around 9 provider events."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench-host"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    handler = ProviderEventHandler(tracer_provider=provider, meter_provider=MeterProvider(), deferred=False)
    tracer = provider.get_tracer("bench")
    phases = ("success", "success", "success", "retry", "failure")
    for trace in range(count // 10):
        with tracer.start_as_current_span("host request"):
            for call in range(9):
                i = trace * 9 + call
                handler(DemoEvent(f"provider{i % 4}", ("predict", "plan", "generate")[i % 3], phases[i % 5],
                                  attempt=1, max_attempts=3, duration_ms=float(i % 97),
                                  metadata={"steps": i % 7}))  # fmt: skip
    return list(memory.get_finished_spans())


def batches(spans: list[ReadableSpan], size: int) -> list[list[ReadableSpan]]:
    return [spans[i : i + size] for i in range(0, len(spans), size)]


def in_process(spans: list[ReadableSpan], size: int, directory: Path) -> dict[str, float]:
    path = directory / "in-process.rrd"
    exporter = RerunSpanExporter(options=RerunOptions(save_path=path))
    started = time.perf_counter()
    for batch in batches(spans, size):
        exporter.export(batch)
    exporter.shutdown()
    seconds = time.perf_counter() - started
    return {"spans_per_s": len(spans) / seconds, "seconds": seconds, "bytes": path.stat().st_size}


def through_receiver(spans: list[ReadableSpan], size: int, directory: Path, transport: str) -> dict[str, float]:
    path = directory / f"received-{transport}.rrd"
    grpc_port, http_port = free_port(), free_port()
    receiver = subprocess.Popen(
        [sys.executable, "-m", "worldforge_otel", "receive", "--otlp-grpc", f"127.0.0.1:{grpc_port}",
         "--otlp-http", f"127.0.0.1:{http_port}", "--rerun-output", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    wait_for_port(grpc_port, 30)
    wait_for_port(http_port, 30)
    if transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{grpc_port}", insecure=True)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore[assignment]

        exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{http_port}/v1/traces")
    started = time.perf_counter()
    results = [exporter.export(batch).name for batch in batches(spans, size)]
    answered = time.perf_counter() - started
    receiver.send_signal(signal.SIGTERM)
    output, _ = receiver.communicate(timeout=600)
    written_s = time.perf_counter() - started
    exporter.shutdown()
    match = re.search(r"traces: (\d+) received, (\d+) written, (\d+) failed, (\d+) refused", output)
    assert match and all(r == "SUCCESS" for r in results), output
    received, written = int(match.group(1)), int(match.group(2))
    assert received == written == len(spans), output
    return {"received_per_s": len(spans) / answered, "written_per_s": len(spans) / written_s,
            "seconds": written_s, "bytes": path.stat().st_size}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=512, help="spans per export / OTLP request")
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parents[1] / "docs/collector-mode.md")
    args = parser.parse_args()
    spans = make_spans(args.spans)
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        results = {"in-process": in_process(spans, args.batch, directory)}
        for transport in ("grpc", "http"):
            results[transport] = through_receiver(spans, args.batch, directory, transport)
    base = results["in-process"]["spans_per_s"]
    base_bytes = results["in-process"]["bytes"] / len(spans)
    rows = [
        "| path | received spans/s | written spans/s | vs in-process | bytes/span |",
        "|---|---|---|---|---|",
        f"| in-process `RerunSpanExporter` | | {base:,.0f} | 100% | {base_bytes:.0f} |",
    ]
    for transport, label in (("grpc", "receive, OTLP/gRPC"), ("http", "receive, OTLP/HTTP protobuf")):
        result = results[transport]
        rows.append(f"| {label} | {result['received_per_s']:,.0f} | {result['written_per_s']:,.0f} | "
                    f"{result['written_per_s'] / base:.0%} | {result['bytes'] / len(spans):.0f} |")  # fmt: skip
    table = "\n".join([
        f"Measured with `python benchmarks/bench_collector.py --spans {len(spans)} --batch {args.batch}` on "
        f"{platform.python_version()}, {os.cpu_count()} cores (sender, receiver and writer share them):", "",
        *rows, "", "```json", json.dumps(results, indent=2), "```",
    ])  # fmt: skip
    print(table)
    text = args.output.read_text() if args.output.exists() else f"{START}\n{END}\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        args.output.write_text(f"{head}{START}\n{table}\n{END}{rest.split(END, 1)[1]}")


if __name__ == "__main__":
    main()
