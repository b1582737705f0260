"""Real OTLP parts for tests: the rotel collector (a subprocess) and a Jaeger-shaped OTLP/HTTP receiver.

The receiver stores what arrives (decoded with opentelemetry-proto) and answers Jaeger's query API shape,
``GET /api/traces?service=NAME`` -> ``{"data": [{"traceID", "spans": [{"traceID", "spanID", "operationName",
"references", "tags"}], "processes"}]}``, so tests assert on what a Jaeger UI would show.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import socket
import subprocess
import sysconfig
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

_HANDED_OUT: set[int] = set()


def _ephemeral_ports_start() -> int:
    """The lowest port the kernel gives outgoing connections (Linux's ``ip_local_port_range``; 32768 elsewhere)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port for a server to listen on, free now and below the kernel's ephemeral range.

    ``bind(("127.0.0.1", 0))`` would pick from that range, where any outgoing connection (of this test, or of
    a process it started) may take the port before the server binds it: CI once saw rotel exit with "unable to
    bind ... Address already in use". Below it only listeners compete, and each port is handed out once.
    """
    start = _ephemeral_ports_start()
    for _ in range(500):
        port = random.randrange(max(1024, start - 12000), start)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port in {max(1024, start - 12000)}..{start - 1}")


def wait_for_port(port: int, timeout: float = 10.0, process: subprocess.Popen | None = None) -> None:
    """Until something listens on ``port``; fails at once when ``process`` (the one to listen) exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process that was to serve port {port} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def walk_strings(value, found: list[str]) -> None:
    """Every string inside nested lists, dicts (keys too) and bytes (decoded) into ``found``."""
    if isinstance(value, str):
        found.append(value)
    elif isinstance(value, bytes | bytearray):
        found.append(bytes(value).decode("utf-8", "replace"))
    elif isinstance(value, dict):
        for key, item in value.items():
            walk_strings(key, found)
            walk_strings(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            walk_strings(item, found)


def _any_value(value):
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {item.key: _any_value(item.value) for item in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind) if kind else None


class JaegerShapedReceiver:
    """OTLP/HTTP (protobuf) receiver on 127.0.0.1 with a Jaeger-like query endpoint."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        self.metric_requests = 0
        self.log_records: list[dict] = []
        self.bodies: list[tuple[str, bytes]] = []  # every request as it arrived (decompressed)
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                try:
                    receiver._store(urlsplit(self.path).path, body)
                except Exception as error:  # malformed: a 400 like a real backend
                    self.send_response(400)
                    self.end_headers()
                    self.wfile.write(str(error).encode())
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                url = urlsplit(self.path)
                if url.path != "/api/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                service = parse_qs(url.query).get("service", [""])[0]
                payload = json.dumps(receiver.jaeger_traces(service)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _store(self, path: str, body: bytes) -> None:
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        with self._lock:
            self.bodies.append((path, body))
        if path.endswith("/v1/traces"):
            request = ExportTraceServiceRequest.FromString(body)
            with self._lock:
                for resource_spans in request.resource_spans:
                    resource = {a.key: _any_value(a.value) for a in resource_spans.resource.attributes}
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            self.spans.append(self._jaeger_span(span, resource.get("service.name", "")))
        elif path.endswith("/v1/metrics"):
            with self._lock:
                self.metric_requests += 1
        elif path.endswith("/v1/logs"):
            request = ExportLogsServiceRequest.FromString(body)
            with self._lock:
                for resource_logs in request.resource_logs:
                    for scope_logs in resource_logs.scope_logs:
                        for record in scope_logs.log_records:
                            self.log_records.append({"body": _any_value(record.body), "traceID": record.trace_id.hex()})
        else:
            raise ValueError(f"unknown path {path}")

    def strings(self) -> list[str]:
        """Every string of every request received (keys, values, names, bodies), decoded from protobuf."""
        from google.protobuf.json_format import MessageToDict
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        types = {"traces": ExportTraceServiceRequest, "metrics": ExportMetricsServiceRequest,
                 "logs": ExportLogsServiceRequest}  # fmt: skip
        found: list[str] = []
        with self._lock:
            bodies = list(self.bodies)
        for path, body in bodies:
            message = types[path.rsplit("/", 1)[-1]].FromString(body)
            walk_strings(MessageToDict(message), found)
        return found

    @staticmethod
    def _jaeger_span(span, service: str) -> dict:
        references = []
        if span.parent_span_id:
            references.append(
                {"refType": "CHILD_OF", "traceID": span.trace_id.hex(), "spanID": span.parent_span_id.hex()}
            )
        tags = [{"key": a.key, "value": _any_value(a.value)} for a in span.attributes]
        return {
            "traceID": span.trace_id.hex(), "spanID": span.span_id.hex(), "operationName": span.name,
            "references": references, "tags": tags, "startTime": span.start_time_unix_nano // 1000,
            "duration": (span.end_time_unix_nano - span.start_time_unix_nano) // 1000, "serviceName": service,
        }

    def jaeger_traces(self, service: str) -> dict:
        by_trace: dict[str, list[dict]] = defaultdict(list)
        with self._lock:
            for span in self.spans:
                if span["serviceName"] == service:
                    by_trace[span["traceID"]].append({k: v for k, v in span.items() if k != "serviceName"})
        return {"data": [{"traceID": trace_id, "spans": spans, "processes": {"p1": {"serviceName": service}}}
                         for trace_id, spans in by_trace.items()]}

    def wait_for_spans(self, count: int, timeout: float = 20.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.spans) >= count:
                    return list(self.spans)
            time.sleep(0.05)
        with self._lock:
            return list(self.spans)

    def wait_for_metrics(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.metric_requests:
            time.sleep(0.05)
        return self.metric_requests

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def rotel_binary() -> Path | None:
    try:
        import rotel
    except ImportError:
        return None
    path = Path(rotel.__file__).parent / "rotel-agent"
    return path if path.exists() else None


class Rotel:
    """The rotel OTLP collector as a subprocess, forwarding everything to ``forward_to`` over OTLP/HTTP
    (or, with ``forward_to=None``, discarding it)."""

    def __init__(self, binary: Path, forward_to: str | None, log_path: Path) -> None:
        self.grpc_port, self.http_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROTEL_")}
        # rotel-agent links libpython (for its Python processors); pyenv keeps it outside the linker's path.
        libdir = sysconfig.get_config_var("LIBDIR") or ""
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [libdir, env.get("LD_LIBRARY_PATH", "")]))
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [str(binary), "start", "--otlp-grpc-endpoint", f"127.0.0.1:{self.grpc_port}",
             "--otlp-http-endpoint", f"127.0.0.1:{self.http_port}", "--batch-timeout", "10ms",
             *(["--exporter", "otlp", "--otlp-exporter-endpoint", forward_to, "--otlp-exporter-protocol", "http"]
               if forward_to else ["--exporter", "blackhole"])],
            env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        wait_for_port(self.grpc_port, process=self.process)
        wait_for_port(self.http_port, process=self.process)

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log.close()
