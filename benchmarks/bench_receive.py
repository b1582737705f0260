"""`worldforge-otel receive` throughput on the request shape of issue 15, from the first request to the end of the
SIGTERM flush.

    python benchmarks/bench_receive.py [--requests 60] [--spans-per-request 1000] [--senders 4] [--shards 2]
        [--output docs/performance.md --output docs/collector-mode.md]

Requests are prebuilt OTLP ``ExportTraceServiceRequest`` bodies of 1,000 spans each: traces of 10 spans (a
server span and 9 children), 10 attributes per span, a quarter of the spans WorldForge provider events (their
scope named ``worldforge_otel``, as a remote handler sends them; the receiver cleans them like any other). Some
values repeat (methods, routes, user agents), some are unique per span (``url.full`` with an id). The bodies are
sent as they are (no encoding in the sender) over OTLP/HTTP protobuf (``http.client`` keep-alive connections)
and OTLP/gRPC (raw unary calls) from ``--senders`` threads at once (a Collector's exporter sends from several
queue consumers, 10 by default), each request after the previous answer; then the
receiver gets SIGTERM and the clock stops when it exited, its recording written and closed. "answered" is
the spans/s at which the sender's requests were answered (decoded and queued). The receiver and the sender
share this machine's cores.

Also measured in one process, no network: ``answers.decode_request`` (parse, decode, sanitize) and the writer
(translate, write), CPU of all threads, µs per span, after two warm-up requests (imports and opening the first
recording are a receiver's start, not its throughput). The section of ``--output`` between the
``bench_receive`` markers is replaced.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Final

os.environ.setdefault("RERUN_ANALYTICS", "false")

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from doc_sections import raw_numbers, write_section

from otlp_backend import free_port, wait_for_port

START: Final = "<!-- bench_receive:start -->"
END: Final = "<!-- bench_receive:end -->"
GOAL_SPANS_PER_S: Final = 30_000
_SUMMARY: Final = re.compile(r"traces: (\d+) received, (\d+) written, (\d+) failed, (\d+) refused")


def _attribute(key: str, value: object) -> KeyValue:
    pair = KeyValue(key=key)
    if isinstance(value, bool):
        pair.value.bool_value = value
    elif isinstance(value, int):
        pair.value.int_value = value
    elif isinstance(value, float):
        pair.value.double_value = value
    else:
        pair.value.string_value = str(value)
    return pair


def _provider_attributes(i: int) -> dict[str, object]:
    phase = ("success", "success", "success", "retry", "failure")[i % 5]
    return {
        "worldforge.provider": f"provider{i % 4}", "worldforge.operation": ("predict", "plan", "generate")[i % 3],
        "worldforge.phase": phase, "worldforge.capability": ("predict", "plan", "generate")[i % 3],
        "worldforge.attempt": 1, "worldforge.max_attempts": 3, "worldforge.duration_ms": float(i % 97),
        "http.request.method": "POST", "http.response.status_code": 503 if phase == "failure" else 200,
        "worldforge.metadata.steps": i % 7,
    }  # fmt: skip


def _web_attributes(i: int) -> dict[str, object]:
    return {
        "http.request.method": ("GET", "POST")[i % 2], "http.route": f"/api/items/{{id}}/v{i % 5}",
        "url.full": f"https://api.example.com/api/items/{i}?page={i % 9}", "http.response.status_code": 200,
        "server.address": "api.example.com", "server.port": 443, "user_agent.original": f"client/{i % 3}.0",
        "network.peer.address": f"10.0.{i % 8}.{i % 250}", "db.system": "postgresql", "app.items": i % 50,
    }  # fmt: skip


def request_body(first_span: int, spans: int, rng: random.Random) -> bytes:
    """One request of ``spans`` spans (traces of 10), numbered from ``first_span``."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend([_attribute("service.name", "bench-host"),
                                               _attribute("deployment.environment", "bench")])  # fmt: skip
    web = resource_spans.scope_spans.add()
    web.scope.name = "opentelemetry.instrumentation.flask"
    events = resource_spans.scope_spans.add()
    events.scope.name = "worldforge_otel"
    base_ns = 1_700_000_000_000_000_000 + first_span * 1_000_000
    for n in range(first_span, first_span + spans):
        trace, position = divmod(n, 10)
        provider_event = n % 4 == 3
        span: Span = (events if provider_event else web).spans.add()
        span.trace_id = (trace + 1).to_bytes(16, "big")
        span.span_id = (n + 1).to_bytes(8, "big")
        if position:
            span.parent_span_id = (trace * 10 + 1).to_bytes(8, "big")
        web_name = "SELECT items" if position else "GET /api/items/{id}"
        span.name = f"predict provider{n % 4}" if provider_event else web_name
        span.kind = 3 if provider_event else (2 if not position else 3)
        span.start_time_unix_nano = base_ns + position * 1_000_000
        span.end_time_unix_nano = span.start_time_unix_nano + rng.randrange(100_000, 20_000_000)
        attributes = _provider_attributes(n) if provider_event else _web_attributes(n)
        span.attributes.extend(_attribute(key, value) for key, value in attributes.items())
        if provider_event and n % 5 == 4:
            span.status.code = Status.STATUS_CODE_ERROR
            span.status.message = "HTTP 503 Service Unavailable"
    return request.SerializeToString()


def bodies(requests: int, spans: int) -> list[bytes]:
    rng = random.Random(15)
    return [request_body(r * spans, spans, rng) for r in range(requests)]


def through_receiver(
    payloads: list[bytes], spans: int, transport: str, directory: Path, concurrency: int, shards: int = 1
) -> dict[str, float]:
    """Send ``payloads`` to ``shards`` real receiver subprocesses (one recording id); spans/s answered and written.

    Request ``r`` goes to shard ``r % shards``: a request holds whole traces, so this is routing by trace id,
    as the Collector's ``loadbalancing`` exporter does.
    """
    receivers, ports = [], []
    for shard in range(shards):
        grpc_port, http_port = free_port(), free_port()
        receivers.append(subprocess.Popen(
            [sys.executable, "-m", "worldforge_otel", "receive", "--otlp-grpc", f"127.0.0.1:{grpc_port}",
             "--otlp-http", f"127.0.0.1:{http_port}", "--rerun-output", str(directory / f"{transport}-{shard}.rrd"),
             "--recording-id", f"bench-{transport}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ))  # fmt: skip
        ports.append(grpc_port if transport == "grpc" else http_port)
    for port in ports:
        wait_for_port(port, 30)
    pending = list(reversed(list(enumerate(payloads))))

    def sender() -> None:
        sends = [_grpc_sender(port) if transport == "grpc" else _http_sender(port) for port in ports]
        while pending:
            try:
                number, body = pending.pop()
            except IndexError:
                return
            sends[number % shards](body)

    threads = [threading.Thread(target=sender) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answered = time.perf_counter() - started
    for receiver in receivers:
        receiver.send_signal(signal.SIGTERM)
    outputs = [receiver.communicate(timeout=900)[0] for receiver in receivers]
    total = time.perf_counter() - started
    count = len(payloads) * spans
    matches = [_SUMMARY.search(output) for output in outputs]
    assert all(matches), outputs
    assert sum(int(m.group(1)) for m in matches if m) == sum(int(m.group(2)) for m in matches if m) == count, outputs
    size = sum((directory / f"{transport}-{shard}.rrd").stat().st_size for shard in range(shards))
    return {"answered_per_s": count / answered, "written_per_s": count / total, "seconds": total,
            "bytes_per_span": size / count}  # fmt: skip


def _http_sender(port: int) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def send(body: bytes) -> None:
        while True:
            connection.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
            response = connection.getresponse()
            response.read()
            if response.status != 503:  # 503: the queue is full, retry as OTLP senders do
                assert response.status == 200, response.status
                return
            time.sleep(0.05)

    return send


def _grpc_sender(port: int) -> Any:
    import grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 64 << 20)])
    export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")

    def send(body: bytes) -> None:
        while True:
            try:
                export(body, timeout=600)
                return
            except grpc.RpcError as error:
                if error.code() is not grpc.StatusCode.UNAVAILABLE:
                    raise
                time.sleep(0.05)

    return send


def in_process(payloads: list[bytes], spans: int, directory: Path) -> dict[str, float]:
    """Decode (parse, decode, sanitize) then write (translate, write) in this process: CPU µs per span, all threads."""
    from worldforge_otel.collector.answers import decode_request
    from worldforge_otel.collector.pipeline import Pipeline
    from worldforge_otel.rerun import RerunOptions

    count = len(payloads) * spans
    started = time.process_time()
    decoded = [decode_request("traces", body) for body in payloads]
    middle = time.process_time()
    pipeline = Pipeline(RerunOptions(save_path=directory / "in-process.rrd"), max_batches=len(payloads) + 1,
                        max_queued_bytes=1 << 40)  # fmt: skip
    for request in decoded:
        pipeline.submit("traces", request.by_service)
    pipeline.shutdown(600)
    written = time.process_time()
    assert pipeline.written["traces"] == count, pipeline.written
    return {"decode_us": (middle - started) / count * 1e6, "write_us": (written - middle) / count * 1e6,
            "total_us": (written - started) / count * 1e6}  # fmt: skip


def render(results: dict[str, Any], command: str) -> str:
    """The docs/performance.md section for ``results``."""
    rows = []
    shards = results.get("shards", 1)
    labels = [("http", "OTLP/HTTP protobuf, one receiver"), ("grpc", "OTLP/gRPC, one receiver")]
    if shards > 1:
        labels += [(f"http_{shards}_shards", f"OTLP/HTTP protobuf, {shards} receivers, one recording id"),
                   (f"grpc_{shards}_shards", f"OTLP/gRPC, {shards} receivers, one recording id")]  # fmt: skip
    for transport, label in labels:
        if transport not in results:
            continue
        result = results[transport]
        ok = "met" if result["written_per_s"] >= GOAL_SPANS_PER_S else "**not met**"
        rows.append(f"| {label} | {result['answered_per_s']:,.0f} | **{result['written_per_s']:,.0f}** | "
                    f"{result['bytes_per_span']:.0f} | ≥ {GOAL_SPANS_PER_S:,}: {ok} |")  # fmt: skip
    local = results["in_process"]
    return "\n".join([
        START,
        "## `receive` throughput: one receiver, and shards of one recording",
        "",
        f"Measured with `{command}` ({results['python']}, rerun-sdk {results['rerun_sdk']}, {os.cpu_count()} "
        f"cores shared by sender and receiver): {results['requests']} prebuilt requests of "
        f"{results['spans_per_request']:,} spans (traces of 10, 10 attributes per span, a quarter provider "
        f"events), sent from {results['senders']} connections at once; written = from the first request until the "
        "receivers, stopped with SIGTERM after the last answer, exited with their recordings closed. With "
        f"{shards} receivers, each request goes to one of them by its traces (whole traces per request: routing "
        "by trace id, as the Collector's `loadbalancing` exporter does); they share one `--recording-id`, so the "
        "viewer opens their files as one recording. This section is written by the script.",
        "",
        "| transport | answered spans/s | written spans/s | bytes/span | goal |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "In one process (no network, after two warm-up requests), CPU of all threads per span: parse + decode + "
        f"sanitize "
        f"{local['decode_us']:.1f} µs, translate + write {local['write_us']:.1f} µs, together "
        f"{local['total_us']:.1f} µs ({1e6 / local['total_us']:,.0f} spans/s of CPU).",
        "",
        *raw_numbers(results),
        END,
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--spans-per-request", type=int, default=1000)
    parser.add_argument("--transports", default="http,grpc")
    parser.add_argument("--senders", type=int, default=4, help="concurrent connections (a Collector uses several)")
    parser.add_argument("--shards", type=int, default=2, help="also measure this many receivers of one recording")
    parser.add_argument("--output", type=Path, action="append", default=[],
                        help="write the section of this markdown file (repeat for several: docs/performance.md, "
                             "docs/collector-mode.md)")  # fmt: skip
    args = parser.parse_args()
    import rerun as rr

    payloads = bodies(args.requests, args.spans_per_request)
    results: dict[str, Any] = {"python": platform.python_version(), "rerun_sdk": rr.__version__,
                               "requests": args.requests, "spans_per_request": args.spans_per_request,
                               "senders": args.senders, "shards": args.shards}  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        (directory / "warm-up").mkdir()
        in_process(payloads[:2], args.spans_per_request, directory / "warm-up")  # imports, the first sink: once
        results["in_process"] = in_process(payloads, args.spans_per_request, directory)
        for transport in args.transports.split(","):
            results[transport] = through_receiver(payloads, args.spans_per_request, transport, directory,
                                                  args.senders)  # fmt: skip
            if args.shards > 1:
                results[f"{transport}_{args.shards}_shards"] = through_receiver(
                    payloads, args.spans_per_request, transport, directory, args.senders, args.shards)
    print(json.dumps(results, indent=2))
    outputs = " ".join(f"--output {output}" for output in args.output)
    command = (f"python benchmarks/bench_receive.py --requests {args.requests} --spans-per-request "
               f"{args.spans_per_request} --senders {args.senders} --shards {args.shards} {outputs}").strip()
    for output in args.output:
        write_section(output, render(results, command), start=START, end=END, first_time_at_top=False)


if __name__ == "__main__":
    main()
