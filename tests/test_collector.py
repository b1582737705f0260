"""Collector mode: `worldforge-otel receive` and `convert` turn OTLP from real senders into the same recording.

Every test starts the real `worldforge-otel receive` as a subprocess and stops it with SIGTERM, the way an
operator does; senders are the SDK's own OTLP exporters (gRPC and HTTP), a hand-built OTLP/JSON POST, and a
real rotel collector. Recordings are read back and compared with an in-process recording of the same data.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("grpc", reason="collector mode needs the collector extra")
pytest.importorskip("uvicorn", reason="collector mode needs the collector extra")

from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs import export as log_export
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from conftest import assert_not_recorded, column_values, entity_paths, needs_rerun, read_rrd, recording_ids
from otlp_backend import free_port, wait_for_port
from worldforge_otel.collector.decode import to_json
from worldforge_otel.demo import DemoEvent
from worldforge_otel.instrumentation import ArtifactRecorder, ProviderEventHandler
from worldforge_otel.rerun import RerunLogExporter, RerunMetricExporter, RerunSink, RerunSpanExporter
from worldforge_otel.rerun.options import RerunOptions

pytestmark = needs_rerun
SELF = "/otel/_self/"
RECEIVER_HEALTH = "/otel/metrics/worldforge-otel-receive/"  # the receiver's own metrics (collector/health.py)


class Receiver:
    """`worldforge-otel receive` as a subprocess on free ports."""

    def __init__(self, output: Path, *extra: str) -> None:
        self.grpc_port, self.http_port = free_port(), free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "worldforge_otel", "receive", "--otlp-grpc", f"127.0.0.1:{self.grpc_port}",
             "--otlp-http", f"127.0.0.1:{self.http_port}", "--rerun-output", str(output), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "RERUN_ANALYTICS": "false"},
        )  # fmt: skip
        wait_for_port(self.grpc_port, timeout=30, process=self.process)
        wait_for_port(self.http_port, timeout=30, process=self.process)

    @property
    def grpc(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    def url(self, signal_name: str) -> str:
        return f"http://127.0.0.1:{self.http_port}/v1/{signal_name}"

    def stop(self, how: signal.Signals = signal.SIGTERM) -> str:
        """SIGTERM (or Ctrl-C's SIGINT), as an operator would; returns what it printed (asserting it exited 0)."""
        self.process.send_signal(how)
        output, _ = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, output
        return output


def post(url: str, body: bytes, content_type: str, *, encoding: str | None = None) -> tuple[int, bytes, dict]:
    headers = {"Content-Type": content_type, **({"Content-Encoding": encoding} if encoding else {})}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def telemetry_of(service: str):
    """One host's spans (provider events, a failure with secrets, a world artifact), logs and metrics, in memory."""
    resource = Resource.create({"service.name": service})
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logs = getattr(log_export, "InMemoryLogRecordExporter", None) or log_export.InMemoryLogExporter
    logs = logs()
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    handler = ProviderEventHandler(tracer_provider=tracer_provider, meter_provider=meter_provider, deferred=False)
    logger = logging.getLogger(f"app.{service}")
    logger.propagate = False
    logger.addHandler(LoggingHandler(logger_provider=logger_provider))
    with tracer_provider.get_tracer("host").start_as_current_span("plan request"):
        handler(DemoEvent("mock", "predict", "success", duration_ms=2.5, metadata={"steps": 2}))
        handler(DemoEvent("remote", "generate", "failure", duration_ms=4.0, status_code=503,
                          target="https://u:hunter2@api.example.com/v1?api_key=sk-secret123456789012",
                          message="HTTP 503 (Bearer sk-secret123456789012)"))  # fmt: skip
        ArtifactRecorder(tracer_provider=tracer_provider).record_world(
            {"id": "lab", "name": "lab", "step": 1, "scene": {"objects": {"cube": {
                "name": "cube", "pose": {"position": {"x": 0.1, "y": 0.2, "z": 0.0}}}}}})  # fmt: skip
        logger.warning("planning took %d ms", 7)
    return spans.get_finished_spans(), logs.get_finished_logs(), reader.get_metrics_data()


def record_in_process(path: Path, spans, logs, metrics) -> None:
    """The reference: the same data through the in-process exporters, in the same batches."""
    sink = RerunSink(RerunOptions(save_path=path))
    span_exporter = RerunSpanExporter(sink=sink)
    for span in spans:
        span_exporter.export([span])
    if logs:
        RerunLogExporter(sink=sink).export(list(logs))
    if metrics is not None:
        RerunMetricExporter(sink=sink).export(metrics)
    assert sink.close(timeout_secs=10)


def send(transport: str, receiver: Receiver, spans, logs, metrics) -> None:
    if transport == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporters = [OTLPSpanExporter(endpoint=receiver.grpc, insecure=True),
                     OTLPLogExporter(endpoint=receiver.grpc, insecure=True),
                     OTLPMetricExporter(endpoint=receiver.grpc, insecure=True)]  # fmt: skip
    elif transport == "http":
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporters = [OTLPSpanExporter(endpoint=receiver.url("traces")), OTLPLogExporter(endpoint=receiver.url("logs")),
                     OTLPMetricExporter(endpoint=receiver.url("metrics"))]  # fmt: skip
    else:  # OTLP/JSON over HTTP, as a browser or a shell script sends it (the SDK has no JSON exporter)
        from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics

        for span in spans:
            assert post(receiver.url("traces"), to_json(encode_spans([span])).encode(), "application/json")[0] == 200
        assert post(receiver.url("logs"), to_json(encode_logs(list(logs))).encode(), "application/json")[0] == 200
        assert post(receiver.url("metrics"), to_json(encode_metrics(metrics)).encode(), "application/json")[0] == 200
        return
    span_exporter, log_exporter, metric_exporter = exporters
    for span in spans:
        assert span_exporter.export([span]).name == "SUCCESS"
    assert log_exporter.export(list(logs)).name == "SUCCESS"
    assert metric_exporter.export(metrics).name == "SUCCESS"
    for exporter in exporters:
        exporter.shutdown()


def contents(path: Path) -> dict[str, list]:
    """Every column of a recording (but the exporter's and the receiver's own health) -> its non-null values in
    time order; a static column (a lane's StateConfiguration, repeated on every row) -> its distinct values."""
    frame = read_rrd(path, index="worldforge_time", contents="/**").sort_values("worldforge_time")
    columns = {}
    for column in frame.columns:
        if column.startswith("/") and not column.startswith((SELF, RECEIVER_HEALTH)):
            values = [json.dumps(v.tolist() if hasattr(v, "tolist") else v, sort_keys=True, default=str)
                      for v in frame[column].dropna()]  # fmt: skip
            if values:
                columns[column] = sorted(set(values)) if ":StateConfiguration:" in column else values
    return columns


def assert_same_recording(expected: dict[str, list], received: dict[str, list]) -> None:
    """Every column identical (values, order, times), but the waterfall's: it is re-drawn whenever spans of a
    trace arrive, so a receiver writing several requests at once (or a collector re-batching) draws it at other
    moments; its last picture, the finished trace, is the same."""
    waterfall = "/otel/traces/"
    assert set(received) == set(expected)
    for column, values in expected.items():
        if not column.startswith(waterfall):
            assert received[column] == values, column
    drawn = [c for c in expected if c.startswith(waterfall)]
    assert drawn and all(received[c][-1] == expected[c][-1] for c in drawn), "the finished traces differ"


@pytest.mark.parametrize("transport", ["grpc", "http", "json"])
def test_otlp_from_the_sdk_exporters_lands_exactly_like_in_process(tmp_path, transport):
    spans, logs, metrics = telemetry_of("checkout-host")
    reference = tmp_path / "in-process.rrd"
    record_in_process(reference, spans, logs, metrics)
    receiver = Receiver(tmp_path / "received.rrd")
    send(transport, receiver, spans, logs, metrics)
    printed = receiver.stop()
    assert f"- traces: {len(spans)} received, {len(spans)} written, 0 failed, 0 refused" in printed
    assert f"- recording: {tmp_path / 'received.rrd'}" in printed
    expected, received = contents(reference), contents(tmp_path / "received.rrd")
    assert set(received) == set(expected)  # same entity paths and components
    assert {c.split(":")[0] for c in expected} >= {
        "/worldforge/events/mock/predict/success/log", "/worldforge/events/remote/generate/failure/payload",
        "/worldforge/worlds/lab/objects", "/otel/spans/checkout-host/plan_request/log",
        "/otel/logs/checkout-host/app.checkout-host",
    }  # fmt: skip
    assert any(c.startswith("/otel/traces/") for c in expected)
    assert any(c.startswith("/otel/metrics/checkout-host/worldforge.provider.events") for c in expected)
    assert_same_recording(expected, received)
    assert_not_recorded(tmp_path / "received.rrd", "hunter2", "sk-secret")


def test_a_real_collector_forwards_to_receive(tmp_path):
    """rotel (a real OTLP collector binary) -> receive over OTLP/HTTP; its own exporter batches and retries."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    from otlp_backend import Rotel, rotel_binary

    if rotel_binary() is None:
        pytest.skip("the rotel collector is not installed (pip install rotel)")
    receiver = Receiver(tmp_path / "received.rrd")
    rotel = Rotel(rotel_binary(), f"http://127.0.0.1:{receiver.http_port}", tmp_path / "rotel-to-receive.log")
    try:
        spans, _, _ = telemetry_of("rotel-sender")
        exporter = OTLPSpanExporter(endpoint=rotel.grpc_endpoint, insecure=True)
        assert exporter.export(list(spans)).name == "SUCCESS"
        exporter.shutdown()
    finally:
        rotel.stop()  # flushes its batch
    receiver.stop()
    reference = tmp_path / "in-process.rrd"
    record_in_process(reference, spans, [], None)
    expected, received = contents(reference), contents(tmp_path / "received.rrd")
    assert_same_recording(expected, received)
    frame = read_rrd(tmp_path / "received.rrd", index="worldforge_time", contents="/**")
    (payload,) = column_values(frame, "/worldforge/events/mock/predict/success/payload", "TextDocument:text")
    predict = next(s for s in spans if s.name == "predict mock").get_span_context()
    assert json.loads(payload)["span_id"] == f"{predict.span_id:016x}"


def _send_service(receiver: Receiver, service: str, transport: str, count: int) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    exporter = (GrpcExporter(endpoint=receiver.grpc, insecure=True) if transport == "grpc"
                else HttpExporter(endpoint=receiver.url("traces")))  # fmt: skip
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    handler = ProviderEventHandler(tracer_provider=provider, meter_provider=MeterProvider(), deferred=False)
    for i in range(count):
        with provider.get_tracer("host").start_as_current_span(f"{service} request"):
            handler(DemoEvent("mock", "predict", "success", duration_ms=float(i + 1)))
    provider.shutdown()


def test_two_services_at_once_stay_apart_in_one_recording_and_split_into_files(tmp_path):
    receiver = Receiver(tmp_path / "both.rrd")
    split = Receiver(tmp_path / "per-service", "--split-by-service")
    senders = [(target, service, transport, 20) for target in (receiver, split)
               for service, transport in (("alpha", "grpc"), ("beta", "http"))]  # fmt: skip
    threads = [threading.Thread(target=_send_service, args=sender) for sender in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert "- traces: 80 received, 80 written" in receiver.stop()
    printed = split.stop(signal.SIGINT)  # Ctrl-C flushes the same way
    assert "- recording alpha:" in printed and "- recording beta:" in printed
    paths = entity_paths(read_rrd(tmp_path / "both.rrd", index="worldforge_time", contents="/otel/spans/**"))
    assert {"/otel/spans/alpha/alpha_request/log", "/otel/spans/beta/beta_request/log"} <= paths
    assert sorted(p.name for p in (tmp_path / "per-service").iterdir()) == ["+receiver.rrd", "alpha.rrd", "beta.rrd"]
    for service, other in (("alpha", "beta"), ("beta", "alpha")):
        frame = read_rrd(tmp_path / "per-service" / f"{service}.rrd", index="worldforge_time", contents="/**")
        paths = entity_paths(frame)
        assert f"/otel/spans/{service}/{service}_request/log" in paths
        assert not any(f"/{other}" in p for p in paths)
        scalars = frame["/worldforge/events/mock/predict/success/duration_ms:Scalars:scalars"].dropna()
        assert sorted(float(v[0]) for v in scalars) == [float(i + 1) for i in range(20)]


def _request(span_id: bytes, name: str) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    span = scope_spans.spans.add(trace_id=bytes(range(1, 17)), span_id=span_id, name=name)
    span.start_time_unix_nano, span.end_time_unix_nano = 1_700_000_000_000_000_000, 1_700_000_000_001_000_000
    return request


def test_bad_requests_get_otlp_errors_and_nothing_received_is_lost(tmp_path):
    import grpc
    from google.rpc.status_pb2 import Status

    receiver = Receiver(tmp_path / "received.rrd", "--max-request-mib", "0.05")
    good = _request(b"\x01" * 8, "good before").SerializeToString()
    assert post(receiver.url("traces"), good, "application/x-protobuf")[0] == 200

    code, body, _ = post(receiver.url("traces"), b"\xff\xfe not protobuf", "application/x-protobuf")
    assert code == 400 and "not a protobuf ExportTraceServiceRequest" in Status.FromString(body).message
    code, body, _ = post(receiver.url("traces"), b"{}", "text/plain")
    assert code == 415 and b"content-type must be application/x-protobuf or application/json" in body
    code, body, _ = post(receiver.url("traces"), b"\0" * 60_000, "application/x-protobuf")
    assert code == 413 and Status.FromString(body).code == 8
    for _ in range(5):  # far past the limit: the client, still sending, gets the 413 (the body is drained), no reset
        code, body, _ = post(receiver.url("traces"), b"\0" * (8 << 20), "application/x-protobuf")
        assert code == 413 and Status.FromString(body).code == 8
    code, body, _ = post(receiver.url("traces"), gzip.compress(b"\0" * 200_000), "application/x-protobuf",
                         encoding="gzip")  # fmt: skip
    assert code == 413  # a small body that expands past the limit
    truncated = to_json(_request(b"\x02" * 8, "lost")).encode()[:-20]
    code, body, _ = post(receiver.url("traces"), truncated, "application/json")
    assert code == 400 and json.loads(body)["message"].startswith("not JSON")
    assert post(receiver.url("traces"), b"\x1f\x8b junk", "application/x-protobuf", encoding="gzip")[0] == 400
    assert post(receiver.url("nothing"), good, "application/x-protobuf")[0] == 404
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(receiver.url("traces"), timeout=10)
    assert refused.value.code == 405

    mixed = _request(b"\x03" * 8, "good in a mixed request")
    mixed.resource_spans[0].scope_spans[0].spans.add(trace_id=bytes(range(1, 17)), span_id=b"\x04\x04\x04", name="bad")
    code, body, _ = post(receiver.url("traces"), gzip.compress(mixed.SerializeToString()), "application/x-protobuf",
                         encoding="gzip")  # fmt: skip
    answer = ExportTraceServiceResponse.FromString(body)
    assert code == 200 and answer.partial_success.rejected_spans == 1
    assert "span_id" in answer.partial_success.error_message

    with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                                     request_serializer=lambda raw: raw,
                                     response_deserializer=ExportTraceServiceResponse.FromString)  # fmt: skip
        with pytest.raises(grpc.RpcError) as garbage:
            export(b"\xff\xfe not protobuf", timeout=10)
        assert garbage.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as too_big:
            export(b"\n" + b"\0" * 80_000, timeout=10)
        assert too_big.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        after = export(_request(b"\x05" * 8, "good after").SerializeToString(), timeout=10)
        assert after.partial_success.rejected_spans == 0

    printed = receiver.stop()
    assert "- traces: 3 received, 3 written, 0 failed, 0 refused (queue full), 1 rejected (invalid items)" in printed
    assert "3 malformed requests" in printed  # not protobuf, truncated JSON, gRPC garbage
    frame = read_rrd(tmp_path / "received.rrd", index="worldforge_time", contents="/otel/spans/**")
    assert {p.split("/")[-2] for p in entity_paths(frame)} == {"good_before", "good_in_a_mixed_request", "good_after"}


def test_a_taken_port_is_one_clear_line_and_exit_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "worldforge_otel", "receive", "--otlp-grpc", "off", "--otlp-http",
             f"127.0.0.1:{port}", "--rerun-output", str(tmp_path / "x.rrd")],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert f"cannot listen on 127.0.0.1:{port}" in line and "choose another with --otlp-http HOST:PORT" in line


def test_convert_reads_collector_file_exporter_json_lines(tmp_path, capsys):
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics

    from worldforge_otel.cli import main

    spans, logs, metrics = telemetry_of("file-host")
    reference = tmp_path / "in-process.rrd"
    record_in_process(reference, spans, logs, metrics)
    lines = [to_json(encode_spans([span])) for span in spans]
    lines += [to_json(encode_logs(list(logs))), to_json(encode_metrics(metrics)), '{"resourceSpans": [{"truncat']
    (tmp_path / "traces.json").write_text("\n".join(lines) + "\n")
    assert main(["convert", str(tmp_path / "traces.json"), "-o", str(tmp_path / "converted.rrd")]) == 0
    printed = capsys.readouterr().out
    assert f"{len(spans)} traces, 1 metrics, 1 logs requests read; 0 items rejected; 1 lines skipped" in printed
    assert_same_recording(contents(reference), contents(tmp_path / "converted.rrd"))


def test_a_full_queue_tells_senders_to_retry_and_nothing_is_lost(tmp_path):
    """The writer is held; one queued request fills the queue; the next gets 503 / UNAVAILABLE, then succeeds."""
    import grpc

    from worldforge_otel.collector.grpc_receiver import start_grpc
    from worldforge_otel.collector.http_receiver import start_http
    from worldforge_otel.collector.pipeline import Pipeline

    pipeline = Pipeline(RerunOptions(save_path=tmp_path / "busy.rrd"), max_batches=1)
    held, release = threading.Event(), threading.Event()
    write = pipeline._write_all

    def slow_write(*args):
        held.set()
        release.wait(30)
        write(*args)

    pipeline._write_all = slow_write
    grpc_port, http_port = free_port(), free_port()
    grpc_server = start_grpc(pipeline, f"127.0.0.1:{grpc_port}", max_request_bytes=1 << 20)
    http_server = start_http(pipeline, f"127.0.0.1:{http_port}", max_request_bytes=1 << 20)
    url = f"http://127.0.0.1:{http_port}/v1/traces"
    try:
        assert post(url, _request(b"\x01" * 8, "first").SerializeToString(), "application/x-protobuf")[0] == 200
        assert held.wait(10)  # the writer holds "first"; the queue is empty again
        assert post(url, _request(b"\x02" * 8, "queued").SerializeToString(), "application/x-protobuf")[0] == 200
        code, _, headers = post(url, _request(b"\x03" * 8, "refused").SerializeToString(), "application/x-protobuf")
        assert code == 503 and headers.get("retry-after") == "1"
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                                         request_serializer=lambda raw: raw,
                                         response_deserializer=ExportTraceServiceResponse.FromString)  # fmt: skip
            with pytest.raises(grpc.RpcError) as busy:
                export(_request(b"\x04" * 8, "refused too").SerializeToString(), timeout=10)
            assert busy.value.code() is grpc.StatusCode.UNAVAILABLE
            release.set()
            pipeline.join()
            assert post(url, _request(b"\x05" * 8, "retried").SerializeToString(), "application/x-protobuf")[0] == 200
    finally:
        release.set()
        grpc_server.stop(grace=None)
        http_server.stop()
        pipeline.shutdown()
    assert pipeline.refused["traces"] == 2 and pipeline.written["traces"] == 3
    frame = read_rrd(tmp_path / "busy.rrd", index="worldforge_time", contents="/otel/spans/**")
    assert {p.split("/")[-2] for p in entity_paths(frame)} == {"first", "queued", "retried"}


def test_hostile_otlp_values_are_recorded_sanitized_never_crash(tmp_path):
    """Nested maps, bytes, a 1 MB string, NaN, odd kinds and secrets, through the receiver's own decoding."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    from worldforge_otel.collector.answers import Outcome, handle
    from worldforge_otel.collector.pipeline import Pipeline

    nested = AnyValue()
    nested.kvlist_value.values.add(key="api_key", value=AnyValue(string_value="sk-hostile1234567890abcdef"))
    nested.kvlist_value.values.add(key="inner", value=AnyValue(bytes_value=b"\xff\x00raw"))
    mixed = AnyValue()
    mixed.array_value.values.extend([AnyValue(int_value=1), AnyValue(string_value="two")])
    request = _request(b"\x07" * 8, "hostile span")
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.kind, span.status.code, span.status.message = 99, 7, "odd"
    span.attributes.extend([KeyValue(key="nested", value=nested), KeyValue(key="mixed", value=mixed),
                            KeyValue(key="huge", value=AnyValue(string_value="x" * 1_000_000)),
                            KeyValue(key="blob", value=AnyValue(bytes_value=b"\x00\x01"))])  # fmt: skip
    request.resource_spans[0].resource.attributes.add(key="service.name", value=AnyValue(string_value="h/o st:le"))
    metrics = ExportMetricsServiceRequest()
    metric = metrics.resource_metrics.add().scope_metrics.add().metrics.add(name="nan.gauge")
    metric.gauge.data_points.add(as_double=float("nan"), time_unix_nano=1_700_000_000_000_000_000)
    metric.gauge.data_points.add(time_unix_nano=1_700_000_000_000_000_000)  # no value: rejected
    metrics.resource_metrics[0].scope_metrics[0].metrics.add(name="empty")  # no data: rejected
    logs = ExportLogsServiceRequest()
    record = logs.resource_logs.add().scope_logs.add().log_records.add(severity_number=99)
    record.body.kvlist_value.values.add(key="password", value=AnyValue(string_value="hunter2"))

    pipeline = Pipeline(RerunOptions(save_path=tmp_path / "hostile.rrd"))
    answers = [handle(pipeline, "traces", request.SerializeToString()),
               handle(pipeline, "metrics", metrics.SerializeToString()),
               handle(pipeline, "logs", logs.SerializeToString())]  # fmt: skip
    pipeline.shutdown()
    assert [a.outcome for a in answers] == [Outcome.ACCEPTED] * 3
    assert [a.rejected for a in answers] == [0, 2, 0]
    assert pipeline.failed.total() == 0
    assert (pipeline.written["traces"], pipeline.written["metrics"], pipeline.written["logs"]) == (1, 1, 1)
    assert_not_recorded(tmp_path / "hostile.rrd", "sk-hostile", "hunter2")
    frame = read_rrd(tmp_path / "hostile.rrd", index="worldforge_time", contents="/otel/**")
    assert any(p.startswith("/otel/spans/h_o_st_le/hostile_span") for p in entity_paths(frame))


def test_the_queue_is_bounded_in_bytes_too(tmp_path):
    from worldforge_otel.collector.pipeline import Pipeline

    pipeline = Pipeline(RerunOptions(save_path=tmp_path / "bytes.rrd"), max_queued_bytes=1000)
    release = threading.Event()
    write = pipeline._write_all
    pipeline._write_all = lambda *args: (release.wait(30), write(*args))
    items = {"svc": [object()]}
    assert pipeline.submit("logs", items, size_bytes=5000)  # an empty queue always takes one request
    assert pipeline.submit("logs", items, size_bytes=10) is False  # 5000 queued bytes are over the 1000 bound
    release.set()
    pipeline.join()
    assert pipeline.submit("logs", items, size_bytes=10)
    pipeline._write_all = lambda *args: None
    pipeline.shutdown()
    assert pipeline.refused["logs"] == 1 and pipeline.received["logs"] == 2


def test_the_queue_is_bounded_in_decoded_items_the_memory_they_take(tmp_path):
    from worldforge_otel.collector.pipeline import Pipeline

    pipeline = Pipeline(RerunOptions(save_path=tmp_path / "items.rrd"), max_queued_items=100)
    release = threading.Event()
    write = pipeline._write_all
    pipeline._write_all = lambda *args: (release.wait(30), write(*args))
    assert pipeline.submit("logs", {"svc": [object()] * 150}, size_bytes=10)  # an empty queue takes one request
    assert pipeline.submit("logs", {"svc": [object()]}, size_bytes=10) is False  # 150 decoded items queued
    release.set()
    pipeline.join()
    assert pipeline.submit("logs", {"svc": [object()] * 60}, size_bytes=10)  # written, nothing queued any more
    pipeline._write_all = lambda *args: None
    pipeline.shutdown()
    assert pipeline.refused["logs"] == 1 and pipeline.received["logs"] == 210


def test_requests_queued_behind_a_busy_writer_are_written_together_and_every_span_once(tmp_path):
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from worldforge_otel.collector.answers import handle
    from worldforge_otel.collector.pipeline import Pipeline

    spans, _, _ = telemetry_of("queued-host")
    pipeline = Pipeline(RerunOptions(save_path=tmp_path / "queued.rrd"))
    held, release, writes = threading.Event(), threading.Event(), []
    write = pipeline._write_all

    def counting_write(requests):
        writes.append(len(requests))
        held.set()
        release.wait(30)
        write(requests)

    pipeline._write_all = counting_write
    handle(pipeline, "traces", encode_spans(spans[:1]).SerializeToString())
    assert held.wait(10)  # the writer holds the first request; the others queue behind it
    for span in spans[1:]:
        handle(pipeline, "traces", encode_spans([span]).SerializeToString())
    release.set()
    pipeline.shutdown()
    assert writes == [1, len(spans) - 1]  # one write for everything that was waiting
    assert pipeline.written["traces"] == len(spans) and pipeline.failed.total() == 0
    frame = read_rrd(tmp_path / "queued.rrd", index="worldforge_time", contents="/worldforge/events/**")
    payloads = [json.loads(p) for c in frame.columns if c.endswith("/payload:TextDocument:text")
                for p in column_values(frame, c.split(":")[0], "TextDocument:text")]  # fmt: skip
    provider_spans = [s for s in spans if "worldforge.provider" in (s.attributes or {})]
    assert len(provider_spans) >= 2
    assert sorted(p["span_id"] for p in payloads) == sorted(f"{s.context.span_id:016x}" for s in provider_spans)


def test_convert_reads_one_pretty_printed_request_too(tmp_path, capsys):
    from worldforge_otel.cli import main

    request = json.loads(to_json(_request(b"\x09" * 8, "pretty")))
    (tmp_path / "one.json").write_text(json.dumps(request, indent=2))
    assert main(["convert", str(tmp_path / "one.json"), "-o", str(tmp_path / "one.rrd")]) == 0
    assert "1 traces, 0 metrics, 0 logs requests read" in capsys.readouterr().out
    frame = read_rrd(tmp_path / "one.rrd", index="worldforge_time", contents="/otel/spans/**")
    assert any("/pretty/" in p for p in entity_paths(frame))


def test_a_signal_right_after_the_ports_open_still_stops_gracefully(tmp_path):
    """The handlers are in place before anything listens: SIGTERM at once is a clean, flushed exit."""
    for attempt in range(3):
        printed = Receiver(tmp_path / f"early-{attempt}.rrd").stop()  # asserts exit code 0
        assert "- ready" in printed


def _span_rows(path: Path) -> tuple[Counter, dict[str, set[str]]]:
    """(trace, span) -> rows naming it (event payloads, span log lines), and trace -> span ids of its drawn tree."""
    import re

    rows: Counter = Counter()
    trees: dict[str, set[str]] = {}
    frame = read_rrd(path, index="worldforge_time", contents="/**")
    for entity in entity_paths(frame):
        if entity.startswith("/worldforge/events/") and entity.endswith("/payload"):
            for text in column_values(frame, entity, "TextDocument:text"):
                rows[(json.loads(text)["trace_id"], json.loads(text)["span_id"])] += 1
        elif entity.startswith("/otel/spans/") and entity.endswith("/log"):
            for text in column_values(frame, entity, "TextLog:text"):
                rows.update(re.findall(r"trace=([0-9a-f]{32}) span=([0-9a-f]{16})", text))
        elif entity.startswith("/otel/traces/") and entity.endswith("/tree") and "/waterfall/" not in entity:
            last = column_values(frame, entity, "TextDocument:text")[-1]  # the finished trace
            trees[entity.split("/")[3]] = set(re.findall(r"span ([0-9a-f]{16})", last))
    return rows, trees


def test_two_receivers_with_one_recording_id_write_shards_of_one_recording(tmp_path):
    """A sender routes each trace by trace id to one of two receivers, as the Collector's loadbalancing exporter."""
    spans = [span for n in range(8) for span in telemetry_of(f"fleet-host-{n % 3}")[0]]
    shards = [Receiver(tmp_path / f"shard-{n}.rrd", "--recording-id", "fleet-run-7") for n in range(2)]
    trace_ids = sorted({span.context.trace_id for span in spans})
    shard_of = {trace_id: n % 2 for n, trace_id in enumerate(trace_ids)}  # by trace id, and both shards get some
    routed: list[list] = [[], []]  # (trace_id % 2 left one shard empty in about 1 run of 128: CI once saw it)
    for span in spans:
        routed[shard_of[span.context.trace_id]].append(span)
    assert len(trace_ids) >= 2 and all(routed)
    for shard, mine in zip(shards, routed, strict=True):
        for first in range(0, len(mine), 5):  # several requests, as a batching sender
            status, _, _ = post(shard.url("traces"), encode_spans(mine[first : first + 5]).SerializeToString(),
                                "application/x-protobuf")  # fmt: skip
            assert status == 200
    printed = [shard.stop() for shard in shards]
    assert all("application id worldforge, recording id fleet-run-7" in text for text in printed)
    files = [tmp_path / f"shard-{n}.rrd" for n in range(2)]
    assert [recording_ids(path) for path in files] == [[("worldforge", "fleet-run-7")]] * 2
    rows = [_span_rows(path) for path in files]
    together = rows[0][0] + rows[1][0]
    expected = {(f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}") for s in spans
                if "worldforge.artifact.kind" not in (s.attributes or {})}  # artifacts land on their own paths
    assert set(together) == expected and set(together.values()) == {1}  # every span once, in one shard
    for shard_rows, (_, trees) in zip(routed, rows, strict=True):  # each trace whole in its shard
        for trace_id in {f"{s.context.trace_id:032x}" for s in shard_rows}:
            assert trees[trace_id] == {f"{s.context.span_id:016x}" for s in shard_rows
                                       if f"{s.context.trace_id:032x}" == trace_id}  # fmt: skip


def test_an_invalid_item_is_rejected_alone_and_its_neighbours_are_written(tmp_path):
    """Overflowing times, bad enums and deep nesting: a partial success or a 400, never a 500, nothing else lost."""
    import grpc
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsServiceRequest,
        ExportLogsServiceResponse,
    )
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
        ExportMetricsServiceResponse,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    from worldforge_otel.collector.decode import attribute_value

    receiver = Receiver(tmp_path / "hostile.rrd")
    spans = _request(b"\x01" * 8, "too late")
    spans.resource_spans[0].scope_spans[0].spans[0].end_time_unix_nano = 2**64 - 1  # first in the request
    for n in range(2, 52):
        spans.resource_spans[0].scope_spans[0].spans.add(
            trace_id=bytes(range(1, 17)), span_id=bytes([n]) * 8, name="good",
            start_time_unix_nano=1_700_000_000_000_000_000,
            end_time_unix_nano=1_700_000_000_001_000_000 + n)  # fmt: skip
    deep = AnyValue(string_value="bottom")
    for _ in range(20):  # deeper than the decoder follows (protobuf itself stops near 33)
        outer = AnyValue()
        outer.kvlist_value.values.append(KeyValue(key="k", value=deep))
        deep = outer
    spans.resource_spans[0].scope_spans[0].spans[1].attributes.add(key="deep", value=deep)
    assert "<nested deeper than 16>" in attribute_value(deep)  # summarized, not followed
    code, body, _ = post(receiver.url("traces"), spans.SerializeToString(), "application/x-protobuf")
    answer = ExportTraceServiceResponse.FromString(body)
    assert code == 200 and answer.partial_success.rejected_spans == 1
    assert "2262" in answer.partial_success.error_message

    metrics = ExportMetricsServiceRequest()
    scope = metrics.resource_metrics.add().scope_metrics.add()
    odd = scope.metrics.add(name="odd.sum")
    odd.sum.aggregation_temporality = 7
    odd.sum.data_points.add(as_int=1, time_unix_nano=1_700_000_000_000_000_000)
    scope.metrics.add(name="good.gauge").gauge.data_points.add(as_double=2.0, time_unix_nano=1_700_000_000_000_000_000)
    with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
                                     request_serializer=lambda raw: raw,
                                     response_deserializer=ExportMetricsServiceResponse.FromString)  # fmt: skip
        reply = export(metrics.SerializeToString(), timeout=10)
    assert reply.partial_success.rejected_data_points == 1 and "aggregation_temporality 7" in (
        reply.partial_success.error_message)

    logs = ExportLogsServiceRequest()
    records = logs.resource_logs.add().scope_logs.add().log_records
    records.add(time_unix_nano=2**64 - 1, body=AnyValue(string_value="too late"))
    records.add(time_unix_nano=1_700_000_000_000_000_000, body=AnyValue(string_value="on time"))
    code, body, _ = post(receiver.url("logs"), logs.SerializeToString(), "application/x-protobuf")
    assert code == 200 and ExportLogsServiceResponse.FromString(body).partial_success.rejected_log_records == 1

    nested = "[" * 100_000 + "]" * 100_000
    code, body, _ = post(receiver.url("traces"), f'{{"resourceSpans": {nested}}}'.encode(), "application/json")
    assert code == 400 and "nested too deeply" in json.loads(body)["message"]

    printed = receiver.stop()
    assert "- traces: 50 received, 50 written, 0 failed" in printed
    assert "- metrics: 1 received, 1 written, 0 failed" in printed and "- logs: 1 received, 1 written" in printed
    frame = read_rrd(tmp_path / "hostile.rrd", index="worldforge_time", contents="/otel/**")
    assert len(column_values(frame, "/otel/spans/unknown_service/good/log", "TextLog:text")) == 50
    assert "Traceback" not in printed


def _lines(*names: str) -> bytes:
    return b"".join(to_json(_request(bytes([n + 1]) * 8, name)).encode() + b"\n" for n, name in enumerate(names))


def _read_names(path: Path) -> set[str]:
    frame = read_rrd(path, index="worldforge_time", contents="/otel/spans/**")
    return {p.split("/")[4] for p in entity_paths(frame)}


def test_convert_reads_a_bom_gzip_and_both_zstd_layouts_of_the_file_exporter(tmp_path, capsys):
    import zstandard

    from worldforge_otel.cli import main

    compressor = zstandard.ZstdCompressor()
    inputs = {
        "bom.json": b"\xef\xbb\xbf" + _lines("bom_a", "bom_b"),
        "lines.json.gz": gzip.compress(_lines("gz_a", "gz_b")),
        "native.json.zst": compressor.compress(_lines("zst_a", "zst_b")),  # the whole file one zstd stream
        "classic.zst": b"".join(len(frame).to_bytes(4, "big") + frame for frame in
                                (compressor.compress(to_json(_request(bytes([n]) * 8, f"classic_{n}")).encode())
                                 for n in (1, 2))),  # compression: zstd (legacy): [length][zstd frame] per request
    }  # fmt: skip
    for name, data in inputs.items():
        (tmp_path / name).write_bytes(data)
        assert main(["convert", str(tmp_path / name), "-o", str(tmp_path / f"{name}.rrd")]) == 0, name
        assert "2 traces, 0 metrics, 0 logs requests read; 0 items rejected; 0 lines skipped" in capsys.readouterr().out
    assert _read_names(tmp_path / "bom.json.rrd") == {"bom_a", "bom_b"}
    assert _read_names(tmp_path / "lines.json.gz.rrd") == {"gz_a", "gz_b"}
    assert _read_names(tmp_path / "native.json.zst.rrd") == {"zst_a", "zst_b"}
    assert _read_names(tmp_path / "classic.zst.rrd") == {"classic_1", "classic_2"}


def test_convert_where_every_item_is_rejected_fails_and_says_why_per_file(tmp_path, capsys, monkeypatch):
    from worldforge_otel.cli import main

    bad = _request(b"\x01\x02", "bad id")  # a 2-byte span id: rejected
    (tmp_path / "bad.json").write_text(to_json(bad) + "\n")
    (tmp_path / "good.json").write_bytes(_lines("fine"))
    assert main(["convert", str(tmp_path / "bad.json"), "-o", str(tmp_path / "bad.rrd")]) == 1
    printed = capsys.readouterr().out
    assert "1 items rejected" in printed
    assert f"- {tmp_path / 'bad.json'}: 0 items read, 1 rejected, 0 lines skipped; first problem: " in printed
    assert "span_id" in printed
    assert main(["convert", str(tmp_path / "bad.json"), str(tmp_path / "good.json"),
                 "-o", str(tmp_path / "both.rrd")]) == 0  # fmt: skip  # something was read
    monkeypatch.setitem(sys.modules, "zstandard", None)  # zstd without the zstandard package: said plainly
    (tmp_path / "x.zst").write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 16)
    assert main(["convert", str(tmp_path / "x.zst"), "-o", str(tmp_path / "x.rrd")]) == 1
    assert "this file is zstd-compressed; install zstandard" in capsys.readouterr().out


def test_a_log_records_event_name_is_kept_and_terminal_colour_codes_are_not(tmp_path):
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    from worldforge_otel.collector.answers import handle
    from worldforge_otel.collector.pipeline import Pipeline

    logs = ExportLogsServiceRequest()
    resource_logs = logs.resource_logs.add()
    resource_logs.resource.attributes.add(key="service.name", value=AnyValue(string_value="ui"))
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = "console"
    coloured = "\x1b[1;31mdisk almost full\x1b[0m (\x1b]0;title\x07ok)"  # SGR colours and an OSC title
    scope_logs.log_records.add(time_unix_nano=1_700_000_000_000_000_000, event_name="app.alert",
                               body=AnyValue(string_value=coloured))  # fmt: skip
    pipeline = Pipeline(RerunOptions(save_path=tmp_path / "logs.rrd"))
    handle(pipeline, "logs", logs.SerializeToString())
    pipeline.shutdown()
    frame = read_rrd(tmp_path / "logs.rrd", index="worldforge_time", contents="/otel/logs/**")
    assert column_values(frame, "/otel/logs/ui/console", "TextLog:text") == ["app.alert · disk almost full (ok)"]
