"""`worldforge-otel receive --split-by-service` under senders that choose hostile or endless service names.

Every test runs the real receiver as a subprocess, stops it with SIGTERM and reads the files back.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("grpc", reason="collector mode needs the collector extra")
pytest.importorskip("uvicorn", reason="collector mode needs the collector extra")

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from conftest import column_values, entity_paths, needs_rerun, read_rrd, recorded_entity_paths, recording_ids
from test_collector import Receiver, post

pytestmark = needs_rerun
PROTOBUF = "application/x-protobuf"


def _request(services: list[str], first_span: int) -> ExportTraceServiceRequest:
    """One span (named ``work``) per service, each in its own resource."""
    request = ExportTraceServiceRequest()
    for offset, service in enumerate(services):
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.add(key="service.name", value=AnyValue(string_value=service))
        number = first_span + offset + 1
        resource_spans.scope_spans.add().spans.add(
            trace_id=number.to_bytes(16, "big"), span_id=number.to_bytes(8, "big"), name="work",
            start_time_unix_nano=1_700_000_000_000_000_000 + number,
            end_time_unix_nano=1_700_000_000_001_000_000 + number,
        )  # fmt: skip
    return request


def _process_status(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("Threads", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def _service_files(directory: Path) -> list[Path]:
    """The recordings of services (not ``+receiver.rrd``, the receiver's own health)."""
    return sorted(path for path in directory.glob("*.rrd") if path.name != "+receiver.rrd")


def _services_in(path: Path) -> set[str]:
    return {p.split("/")[3] for p in recorded_entity_paths(path) if p.startswith("/otel/spans/")}


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads threads and peak memory from /proc")
def test_five_thousand_services_keep_threads_and_memory_bounded(tmp_path):
    receiver = Receiver(tmp_path / "split", "--split-by-service", "--max-recordings", "16")
    before = _process_status(receiver.process.pid)
    services = [f"svc-{n}" for n in range(5000)]
    for first in range(0, len(services), 250):
        code, _, _ = post(receiver.url("traces"), _request(services[first : first + 250], first).SerializeToString(),
                          PROTOBUF)  # fmt: skip
        assert code == 200
    time.sleep(1.0)  # let the writer open what it opens
    peak = _process_status(receiver.process.pid)
    printed = receiver.stop()
    assert "- traces: 5000 received, 5000 written, 0 failed" in printed
    assert "- 4984 services beyond --max-recordings 16 shared +other-services.rrd" in printed
    files = _service_files(tmp_path / "split")
    assert len(files) == 17
    # Measured: ~5 threads per open recording (90 for these 17) and a 215 MB peak; 5,000 services took 18,527
    # threads and 5.4 GB before the cap.
    assert peak["Threads"] - before["Threads"] <= 17 * 6, (before, peak)
    assert peak["VmHWM"] < 400 * 1024, peak  # kB
    overflow = _services_in(tmp_path / "split" / "+other-services.rrd")
    assert len(overflow) == 4984 and "svc-4999" in overflow
    assert sum(len(_services_in(path)) for path in files if path.stem != "+other-services") == 16


def test_service_names_that_escape_alike_get_files_of_their_own(tmp_path):
    names = ["team/api", "team_api", "team api", "", ".", "..", "Team_API", "+other-services", "a" * 300,
             "\x1b[31mred\x1b[0m\nline"]  # fmt: skip
    receiver = Receiver(tmp_path / "split", "--split-by-service")
    assert post(receiver.url("traces"), _request(names, 0).SerializeToString(), PROTOBUF)[0] == 200
    printed = receiver.stop()
    files = _service_files(tmp_path / "split")
    assert len(files) == len(names), [f.name for f in files]  # one file each: no two services share a file
    ids = {recording_ids(path)[0][1] for path in files}
    assert len(ids) == len(names)
    for path in files:  # every file readable, holding one service's one span
        frame = read_rrd(path, index="worldforge_time", contents="/otel/spans/**")
        (log,) = [p for p in entity_paths(frame) if p.endswith("/log")]
        assert len(column_values(frame, log, "TextLog:text")) == 1
    assert (tmp_path / "split" / "team_api.rrd").exists()  # a safe name is its own file name
    assert "\x1b" not in printed and "\\x1b[31mred\\x1b[0m\\nline" in printed  # names printed escaped


def test_sigterm_while_new_services_arrive_keeps_every_accepted_span(tmp_path):
    receiver = Receiver(tmp_path / "split", "--split-by-service", "--max-recordings", "8")
    accepted, stop = [], threading.Event()

    def send() -> None:
        number = 0
        while not stop.is_set():
            services = [f"late-{number + n}" for n in range(20)]
            try:
                code, _, _ = post(receiver.url("traces"), _request(services, number).SerializeToString(), PROTOBUF)
            except OSError:  # the receiver stopped listening
                return
            if code == 200:
                accepted.extend(services)
            number += 20

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(1.5)
    receiver.process.send_signal(signal.SIGTERM)
    output, _ = receiver.process.communicate(timeout=120)
    stop.set()
    sender.join(30)
    assert receiver.process.returncode == 0, output
    assert accepted and f"- traces: {len(accepted)} received, {len(accepted)} written, 0 failed" in output
    recorded: set[str] = set()
    for path in (tmp_path / "split").glob("*.rrd"):
        recorded |= _services_in(path)  # every file readable
    assert recorded == set(accepted)


def _closed_by_peer(sock: socket.socket) -> bool:
    sock.settimeout(5)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts the receiver's file descriptors in /proc")
def test_idle_and_trickling_connections_are_closed_and_capped(tmp_path):
    receiver = Receiver(tmp_path / "r.rrd", "--max-connections", "20", "--header-timeout", "1")
    idle = [socket.create_connection(("127.0.0.1", receiver.http_port)) for _ in range(300)]
    trickle = socket.create_connection(("127.0.0.1", receiver.http_port))
    time.sleep(0.3)
    open_fds = len(list(Path(f"/proc/{receiver.process.pid}/fd").iterdir()))
    assert open_fds < 120, open_fds  # 300 idle connections were not all kept open
    for byte in b"POST /v1/traces HTTP/1.1\r\n"[:8]:  # a header sent a byte at a time: still cut at the deadline
        try:
            trickle.send(bytes([byte]))
        except OSError:
            break
        time.sleep(0.25)
    assert all(_closed_by_peer(sock) for sock in [*idle, trickle])
    code, _, _ = post(receiver.url("traces"), _request(["after"], 0).SerializeToString(), PROTOBUF)
    assert code == 200  # a real sender is served
    for sock in [*idle, trickle]:
        sock.close()
    assert "- traces: 1 received, 1 written" in receiver.stop()


def test_the_receivers_own_health_is_scraped_recorded_and_sent_over_otlp(tmp_path):
    import urllib.request

    backend = Receiver(tmp_path / "fleet-health.rrd")  # where a fleet collects the receivers' own metrics
    receiver = Receiver(tmp_path / "r.rrd", "--metrics-otlp-endpoint", backend.url("metrics"))
    assert post(receiver.url("traces"), _request(["a", "b", "c"], 0).SerializeToString(), PROTOBUF)[0] == 200
    assert post(receiver.url("traces"), b"not protobuf", PROTOBUF)[0] == 400
    deadline = time.monotonic() + 10
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{receiver.http_port}/metrics", timeout=5) as response:
            text = response.read().decode()
            content_type = response.headers["Content-Type"]
        if 'worldforge_otel_receive_items_total{signal="traces",outcome="written"} 3' in text:
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.1)
    assert content_type.startswith("text/plain; version=0.0.4")
    assert 'worldforge_otel_receive_items_total{signal="traces",outcome="received"} 3' in text
    assert 'worldforge_otel_receive_malformed_requests_total{signal="traces"} 1' in text
    assert "# TYPE worldforge_otel_receive_queue_items gauge" in text
    assert "worldforge_otel_receive_recordings_open 1" in text
    receiver.stop()
    backend.stop()
    base = "/otel/metrics/worldforge-otel-receive/worldforge_otel.receive.items/outcome\\=written/"
    path = f"{base}receiver\\={socket.gethostname()}_{receiver.process.pid}/signal\\=traces"
    for recording in (tmp_path / "r.rrd", tmp_path / "fleet-health.rrd"):  # in its own recording, and sent over OTLP
        frame = read_rrd(recording, index="worldforge_time", contents="/otel/metrics/**")
        assert column_values(frame, path, "Scalars:scalars")[-1] == 3, (recording, list(frame.columns))
