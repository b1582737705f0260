"""The trust boundary and the columnar export, side by side in one process on the same events.

    python benchmarks/bench_boundary.py [--events 20000] [--runs 3] [--steady-secs 10]

1. Export: RerunSpanExporter.export on spans our handler built vs the baseline, rerun-sdk ``send_columns``
   writing the same rows (prebuilt, grouped per entity path) in the batch size configure() uses (4,096).
   CPU of every thread (``time.process_time``: rerun-sdk's encoder and writer threads included), and bytes.
2. configure() end to end (handler worker, BatchSpanProcessor, RerunSpanExporter, metric reader), CPU of every
   thread per ProviderEvent, vs a bare span (start/end, no-op exporter); and the calling thread's own share.
3. Sanitizer: 100 kB adversarial strings on the worker, and what the calling thread pays for them.
4. A steady producer through the deferred handler: events handled and dropped.
Prints JSON; the numbers are copied into docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RERUN_ANALYTICS", "false")

import rerun as rr
from bench_core import bare_span_us, events, export_send_columns, finished_spans

import worldforge_otel
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
                best[name] = min(best[name], writer(spans, path))
                sizes[name] = path.stat().st_size
    return {"baseline_us": best["baseline"] / count * 1e6, "ours_us": best["ours"] / count * 1e6,
            "share_of_baseline": best["baseline"] / best["ours"], "baseline_bytes": sizes["baseline"] / count,
            "ours_bytes": sizes["ours"] / count, "bytes_ratio": sizes["ours"] / sizes["baseline"]}  # fmt: skip


def end_to_end(count: int, runs: int) -> dict[str, float]:
    items = events(count)

    def ours(directory: str) -> tuple[float, float]:
        telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=Path(directory) / "e2e.rrd"),
                                              set_global_providers=False)  # fmt: skip
        started, host = time.process_time(), 0.0
        for first in range(0, count, BATCH):  # bursts the default event queue holds, so nothing is dropped
            calling = time.thread_time()
            for item in items[first : first + BATCH]:
                telemetry(item)
            host += time.thread_time() - calling
            telemetry.force_flush(600_000)
        telemetry.shutdown(600_000)
        assert telemetry.stats.events_dropped == 0
        return (time.process_time() - started) / count * 1e6, host / count * 1e6

    bare_us = min(bare_span_us(count, time.process_time) for _ in range(runs))
    with tempfile.TemporaryDirectory() as directory:
        results = [ours(directory) for _ in range(runs)]
    total_us, host_us = min(r[0] for r in results), min(r[1] for r in results)
    return {"bare_span_us": bare_us, "end_to_end_us": total_us, "end_to_end_ratio": total_us / bare_us,
            "host_thread_us": host_us, "host_ratio": host_us / bare_us}  # fmt: skip


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steady-rate", type=int, default=20_000)
    parser.add_argument("--steady-secs", type=float, default=10.0)
    args = parser.parse_args()
    logging.getLogger("worldforge_otel").setLevel(logging.CRITICAL)  # queue-full warnings of the steady run
    results = {
        "python": platform.python_version(), "rerun_sdk": rr.__version__, "events": args.events, "batch": BATCH,
        "export": export_side_by_side(args.events, args.runs),
        "end_to_end": end_to_end(args.events, args.runs),
        "sanitizer": sanitizer(),
        "steady": steady(args.steady_rate, args.steady_secs),
    }  # fmt: skip
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
