from __future__ import annotations

import json
import logging
import math
import threading

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from conftest import assert_not_recorded, column_values, entity_paths, needs_rerun, read_rrd
from worldforge_otel.demo import DemoEvent
from worldforge_otel.instrumentation import ProviderEventHandler
from worldforge_otel.rerun import RerunMetricExporter, RerunOptions, RerunSink, RerunSpanExporter

pytestmark = needs_rerun
EVENTS = "/worldforge/events"


def record(tmp_path, events, *, batch=False, extra=None):
    """Send events through a real TracerProvider into a RerunSpanExporter; return the .rrd path."""
    path = tmp_path / "run.rrd"
    exporter = RerunSpanExporter(options=RerunOptions(save_path=path))
    provider = TracerProvider(resource=Resource.create({"service.name": "svc"}))
    provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    handler = ProviderEventHandler(tracer_provider=provider, meter_provider=MeterProvider(), deferred=False)
    for item in events:
        handler(item)
    if extra:
        extra(provider)
    provider.shutdown()
    return path, exporter


def test_provider_events_land_on_the_reference_layout(tmp_path, strict_rerun):
    path, exporter = record(tmp_path, [
        DemoEvent("mock", "predict", "success", duration_ms=12.5, metadata={"steps": 2}),
        DemoEvent("remote", "generate", "retry", attempt=1, max_attempts=3, status_code=503, duration_ms=40.0),
        DemoEvent("remote", "generate", "failure", attempt=3, max_attempts=3, duration_ms=7.0, message="boom"),
    ])
    assert exporter.spans_exported == 3 and exporter.spans_dropped == 0
    frame = read_rrd(path, index="worldforge_event", contents=f"{EVENTS}/**")
    assert {
        f"{EVENTS}/mock/predict/success/log", f"{EVENTS}/mock/predict/success/payload",
        f"{EVENTS}/mock/predict/success/duration_ms", f"{EVENTS}/remote/generate/retry/log",
        f"{EVENTS}/remote/generate/failure/duration_ms",
    } <= entity_paths(frame)
    assert sorted(frame["worldforge_event"].tolist()) == [0, 1, 2]
    assert column_values(frame, f"{EVENTS}/mock/predict/success/duration_ms", "Scalars:scalars") == [12.5]
    (line,) = column_values(frame, f"{EVENTS}/remote/generate/failure/log", "TextLog:text")
    assert line.startswith("FAILURE remote.generate · attempt 3/3 · 7.00 ms") and line.endswith("— boom")
    assert column_values(frame, f"{EVENTS}/remote/generate/failure/log", "TextLog:level") == ["ERROR"]
    assert column_values(frame, f"{EVENTS}/remote/generate/retry/log", "TextLog:level") == ["WARN"]
    (payload,) = column_values(frame, f"{EVENTS}/mock/predict/success/payload", "TextDocument:text")
    document = json.loads(payload)
    assert document["phase"] == "success" and document["metadata"] == {"steps": 2}
    assert len(document["trace_id"]) == 32
    timed = read_rrd(path, index="worldforge_time", contents=f"{EVENTS}/**")
    assert timed["worldforge_time"].notna().all() and len(timed) == 3


def test_the_payload_keeps_the_event_shape_with_each_fact_once(tmp_path):
    path, _ = record(tmp_path, [DemoEvent(
        "remote", "generate", "failure", status_code=503, target="https://api.example.com/v1/gen?key=k",
        metadata={"request": {"model": "m1", "limits": {"steps": 4}}, "tags": ["a", "b"]})])
    frame = read_rrd(path, index="worldforge_event", contents=f"{EVENTS}/**")
    (payload,) = column_values(frame, f"{EVENTS}/remote/generate/failure/payload", "TextDocument:text")
    document = json.loads(payload)
    assert list(document)[:11] == ["provider", "operation", "phase", "attempt", "max_attempts", "method", "target",
                                   "status_code", "duration_ms", "message", "metadata"]  # EVENT_FIELDS, in order
    assert document["metadata"] == {"request": {"model": "m1", "limits": {"steps": 4}}, "tags": ["a", "b"]}
    assert document["status_code"] == 503 and document["target"] == "https://api.example.com/v1/gen"
    assert payload.startswith("{\n  ")  # indented: readable in the viewer


def test_other_spans_and_health_are_recorded(tmp_path, strict_rerun):
    def host_spans(provider):
        tracer = provider.get_tracer("host")
        with tracer.start_as_current_span("GET /plan"):
            pass

    path, _ = record(tmp_path, [DemoEvent("mock", "plan", "success", duration_ms=1.0)], extra=host_spans)
    frame = read_rrd(path, index="worldforge_time")
    paths = entity_paths(frame)
    assert "/otel/spans/svc/GET_plan/log" in paths
    assert "/otel/spans/svc/GET_plan/duration_ms" in paths
    exported = "/otel/_self/otel.sdk.exporter.span.exported"  # OTel's self-observability names
    assert max(column_values(frame, exported, "Scalars:scalars")) == 2.0
    assert column_values(frame, f"{exported}/error.type\\=dropped", "Scalars:scalars")[-1] == 0.0
    durations = column_values(frame, "/otel/_self/otel.sdk.exporter.operation.duration/span", "Scalars:scalars")
    assert durations and all(0 <= seconds < 5 for seconds in durations)


def test_planted_secrets_never_reach_the_recording(tmp_path):
    secret = "sk-topsecret0123456789abcdef"
    path, _ = record(tmp_path, [DemoEvent(
        "remote", "generate", "failure", target=f"https://user:{secret}@api.example.com/v1?api_key={secret}",
        message=f"Authorization: Bearer {secret}", metadata={"api_key": secret, "note": f"token={secret}"})])
    assert_not_recorded(path, secret)
    frame = read_rrd(path, index="worldforge_event")
    (payload,) = column_values(frame, f"{EVENTS}/remote/generate/failure/payload", "TextDocument:text")
    assert "https://api.example.com/v1" in payload and secret not in payload


def test_eight_threads_times_thousand_events_all_exported(tmp_path):
    path = tmp_path / "threads.rrd"
    exporter = RerunSpanExporter(options=RerunOptions(save_path=path))
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=10_000))
    handler = ProviderEventHandler(tracer_provider=provider, meter_provider=MeterProvider(), deferred=False)

    def work(n):
        for i in range(1000):
            handler(DemoEvent(f"p{n}", "predict", "success", duration_ms=float(i)))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    provider.shutdown()
    assert exporter.spans_exported == 8000 and exporter.spans_dropped == 0
    frame = read_rrd(path, index="worldforge_event", contents=f"{EVENTS}/**")
    assert frame["worldforge_event"].nunique() == 8000


def test_attribute_keys_that_end_alike_stay_two_series(tmp_path):
    path = tmp_path / "keys.rrd"
    reader = PeriodicExportingMetricReader(RerunMetricExporter(options=RerunOptions(save_path=path)),
                                           export_interval_millis=3_600_000)  # fmt: skip
    meter_provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "svc"}))
    connections = meter_provider.get_meter("db").create_counter("db.connections")
    connections.add(3, {"net.peer.name": "db"})
    connections.add(5, {"net.host.name": "db"})
    meter_provider.shutdown()
    frame = read_rrd(path, index="worldforge_time", contents="/otel/metrics/**")
    assert column_values(frame, "/otel/metrics/svc/db.connections/net.peer.name\\=db", "Scalars:scalars") == [3.0]
    assert column_values(frame, "/otel/metrics/svc/db.connections/net.host.name\\=db", "Scalars:scalars") == [5.0]


def test_metrics_become_scalars_per_metric_and_attribute_set(tmp_path, strict_rerun):
    path = tmp_path / "metrics.rrd"
    exporter = RerunMetricExporter(options=RerunOptions(save_path=path))
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    meter_provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "svc"}))
    handler = ProviderEventHandler(tracer_provider=TracerProvider(), meter_provider=meter_provider, deferred=False)
    handler(DemoEvent("mock", "predict", "success", duration_ms=100.0))
    handler(DemoEvent("mock", "predict", "success", duration_ms=300.0))
    meter_provider.shutdown()  # final collection + export; the reader passes timeout= to shutdown
    assert exporter.points_exported > 0 and exporter.points_dropped == 0
    frame = read_rrd(path, index="worldforge_time", contents="/otel/metrics/**")
    base = ("/otel/metrics/svc/worldforge.provider.operation.duration/"
            "worldforge.capability\\=predict/worldforge.operation\\=predict/worldforge.phase\\=success/"
            "worldforge.provider\\=mock")
    assert column_values(frame, f"{base}/count", "Scalars:scalars") == [2.0]
    assert column_values(frame, f"{base}/sum", "Scalars:scalars") == [pytest.approx(0.4)]
    assert column_values(frame, f"{base}/mean", "Scalars:scalars") == [pytest.approx(0.2)]
    events = base.replace("worldforge.provider.operation.duration", "worldforge.provider.events")
    assert column_values(frame, events, "Scalars:scalars") == [2.0]


def test_exporters_share_one_sink_per_options_and_shutdown_is_idempotent(tmp_path, caplog):
    options = RerunOptions(save_path=tmp_path / "shared.rrd")
    spans, metrics = RerunSpanExporter(options=options), RerunMetricExporter(options=options)
    assert spans.sink is metrics.sink
    spans.shutdown()
    assert spans.sink.enabled  # the metric exporter still uses it
    spans.shutdown()
    with caplog.at_level(logging.WARNING, logger="worldforge_otel"):
        assert spans.export([]) is SpanExportResult.FAILURE
    assert "already shut down" in caplog.text
    metrics.shutdown(timeout=1.0)
    assert not spans.sink.enabled
    assert spans.force_flush() is False


def test_a_chosen_blueprint_is_sent_and_a_broken_one_never_costs_the_data(tmp_path, caplog):
    import rerun.blueprint as rrb

    made = []

    def layout():
        made.append(rrb.Blueprint(rrb.TextLogView(name="only the log")))
        return made[-1]

    def broken():
        raise RuntimeError("a bad layout")

    for name, blueprint in (("chosen", layout), ("broken", broken)):
        path = tmp_path / f"{name}.rrd"
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(RerunSpanExporter(options=RerunOptions(save_path=path,
                                                                                               blueprint=blueprint))))
        handler = ProviderEventHandler(tracer_provider=provider, meter_provider=MeterProvider(), deferred=False)
        with caplog.at_level(logging.WARNING, logger="worldforge_otel"):
            handler(DemoEvent("mock", "predict", "success", duration_ms=2.0))
            provider.shutdown()
        frame = read_rrd(path, index="worldforge_event", contents="/worldforge/**")
        assert column_values(frame, "/worldforge/events/mock/predict/success/duration_ms", "Scalars:scalars") == [2.0]
    assert len(made) == 1  # called once, when the recording opened
    assert "could not send the Rerun blueprint; recording without it" in caplog.text
    assert RerunOptions(save_path="a.rrd", blueprint=layout) == RerunOptions(save_path="a.rrd")  # one sink


def test_a_user_owned_sink_is_left_open(tmp_path):
    sink = RerunSink(RerunOptions(save_path=tmp_path / "own.rrd"))
    exporter = RerunSpanExporter(sink=sink)
    exporter.shutdown()
    assert sink.enabled
    assert sink.close(timeout_secs=5) is True
    assert sink.close() is True  # idempotent
    with pytest.raises(ValueError, match="either sink= or options="):
        RerunSpanExporter(sink=sink, options=RerunOptions())


def test_user_mistakes_log_one_clear_line_and_fall_back(tmp_path, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.ERROR, logger="worldforge_otel"):
        bad_url = RerunSink(RerunOptions(connect_url="http://localhost:9876"))
        unwritable = RerunSink(RerunOptions(save_path="/proc/forbidden/x.rrd"))
        bad_port = RerunSink(RerunOptions(serve_grpc_port=70000))
    messages = [r.getMessage() for r in caplog.records]
    assert any("connect_url" in m and "rerun+http://" in m for m in messages)
    assert any("/proc/forbidden/x.rrd" in m and "save_path" in m for m in messages)
    assert any("serve_grpc_port" in m and "1 to 65535" in m for m in messages)
    for sink in (bad_url, unwritable, bad_port):
        assert sink.enabled and sink.save_path is not None
        assert sink.save_path.parent.resolve() == (tmp_path / ".worldforge/rerun").resolve()
        sink.close(timeout_secs=5)


def test_closing_with_an_unreachable_viewer_is_bounded(tmp_path, monkeypatch):
    import socket
    import time

    monkeypatch.chdir(tmp_path)  # the data is kept in the default file instead

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = RerunSink(RerunOptions(connect_url=f"rerun+http://127.0.0.1:{port}/proxy", shutdown_timeout_secs=2.0))
    exporter = RerunSpanExporter(sink=sink)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    handler = ProviderEventHandler(tracer_provider=provider, meter_provider=MeterProvider(), deferred=False)
    for _ in range(100):
        handler(DemoEvent("mock", "predict", "success", duration_ms=1.0))
    started = time.monotonic()
    sink.close()
    assert time.monotonic() - started < 4.0


def test_provider_spans_from_elsewhere_are_sanitized_too(tmp_path):
    """A span with worldforge.* attributes that did not come from our handler (e.g. another SDK)."""
    secret = "sk-elsewhere0123456789abcdef"
    path = tmp_path / "foreign.rrd"
    exporter = RerunSpanExporter(options=RerunOptions(save_path=path))
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.get_tracer("someone-else").start_span("generate remote", attributes={
        "worldforge.provider": "remote", "worldforge.operation": "generate", "worldforge.phase": "failure",
        "worldforge.message": f"Authorization: Bearer {secret}", "worldforge.metadata.api_key": secret,
    }).end()
    provider.shutdown()
    assert exporter.spans_exported == 1
    assert_not_recorded(path, secret)


def test_every_span_carries_its_attributes_events_and_status_on_its_log_row(tmp_path):
    from opentelemetry.trace import Status, StatusCode

    path = tmp_path / "attributes.rrd"
    exporter = RerunSpanExporter(options=RerunOptions(save_path=path))
    provider = TracerProvider(resource=Resource.create({"service.name": "web"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("web")
    with tracer.start_as_current_span("GET /items", attributes={"http.route": "/items", "http.status": 200,
                                                                "db.rows": [1, 2], "password": "hunter2"}):  # fmt: skip
        failing = tracer.start_span("SELECT items", attributes={"db.statement": "SELECT * FROM items"})
        failing.add_event("retry", {"attempt": 2})
        failing.set_status(Status(StatusCode.ERROR, "deadlock detected"))
        failing.end()
    for n in range(200):  # more attribute names than one entity keeps as components of its own
        tracer.start_span("GET /items", attributes={f"custom.{n}": n}).end()
    provider.shutdown()
    frame = read_rrd(path, index="worldforge_time", contents="/otel/spans/**")
    request, query = "/otel/spans/web/GET_items/log", "/otel/spans/web/SELECT_items/log"
    assert column_values(frame, request, "http.route")[0] == "/items"
    assert column_values(frame, request, "http.status")[0] == 200
    assert column_values(frame, request, "db.rows")[0] == "[1,2]"
    assert column_values(frame, request, "password")[0] == "[REDACTED]"  # through the trust boundary
    assert column_values(frame, request, "otel.span_kind")[0] == "INTERNAL"
    resources = column_values(frame, request, "otel.resource")  # with the first row of each export batch
    assert resources and {json.loads(resource)["service.name"] for resource in resources} == {"web"}
    assert column_values(frame, query, "db.statement") == ["SELECT * FROM items"]
    assert column_values(frame, query, "otel.status_description") == ["deadlock detected"]
    (events,) = column_values(frame, query, "otel.events")
    assert json.loads(events)[0]["name"] == "retry" and json.loads(events)[0]["attributes"] == {"attempt": 2}
    parent = column_values(frame, query, "otel.parent_span_id")[0]
    assert len(parent) == 16
    components = {c.split(":", 1)[1] for c in frame.columns if c.startswith(f"{request}:")}
    assert len(components) <= 128 + 8  # bounded: the rest went into otel.more_attributes
    assert "custom.199" not in components and any(
        "custom.199" in text for text in column_values(frame, request, "otel.more_attributes"))
    health = read_rrd(path, index="worldforge_time", contents="/otel/_self/**")
    overflowed = column_values(health, "/otel/_self/span_attribute_names_overflowed", "Scalars:scalars")[-1]
    assert overflowed == 4 + 200 - 128  # the request's 4 attribute names and 200 custom ones, 128 kept


def test_an_httpx_call_span_shows_its_url_without_secrets_and_its_status(tmp_path):
    """A real httpx call to a real local server, instrumented by opentelemetry-instrumentation-httpx."""
    import http.server

    httpx = pytest.importorskip("httpx")
    instrumentation = pytest.importorskip("opentelemetry.instrumentation.httpx")

    class Items(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # the stdlib's name
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Items)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    path = tmp_path / "httpx.rrd"
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(RerunSpanExporter(options=RerunOptions(save_path=path))))
    with httpx.Client() as client:
        instrumentation.HTTPXClientInstrumentor().instrument_client(client, tracer_provider=provider)
        port = server.server_address[1]
        response = client.get(f"http://alice:s3cret-pw@127.0.0.1:{port}/items?api_key=sk-live-123&page=2")
    server.shutdown()
    provider.shutdown()
    assert response.status_code == 200
    frame = read_rrd(path, index="worldforge_time", contents="/otel/spans/**")
    (log,) = [p for p in entity_paths(frame) if p.startswith("/otel/spans/shop/GET") and p.endswith("/log")]
    columns = {c.split(":", 1)[1] for c in frame.columns if c.startswith(f"{log}:")}
    url_key = "url.full" if "url.full" in columns else "http.url"  # instrumentation < 0.61b0: the old convention
    status_key = "http.response.status_code" if "http.response.status_code" in columns else "http.status_code"
    assert column_values(frame, log, url_key) == [f"http://127.0.0.1:{port}/items"]  # no password, no query
    assert column_values(frame, log, status_key) == [200]
    assert column_values(frame, log, "otel.span_kind") == ["CLIENT"]
    assert_not_recorded(path, "s3cret-pw", "sk-live-123")


def _listening_addresses(port: int) -> set[str]:
    """Local IPv4 addresses listening on ``port`` (from /proc/net/tcp: state 0A is LISTEN)."""
    from pathlib import Path

    found = set()
    table = Path("/proc/net/tcp").read_text(encoding="ascii")
    for line in table.splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


def test_serving_grpc_lets_a_viewer_read_the_data_on_this_machine_only(tmp_path):
    """A real client (the rerun CLI saving what it receives) reads the served spans back."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from otlp_backend import free_port

    port = free_port()
    exporter = RerunSpanExporter(options=RerunOptions(serve_grpc_port=port))
    provider = TracerProvider(resource=Resource.create({"service.name": "served"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.get_tracer("t").start_span("served span").end()
    try:
        assert exporter.sink.server_url == f"rerun+http://127.0.0.1:{port}/proxy"
        listening = _listening_addresses(port)
        assert listening, "nothing listens on the served port"
        if exporter.sink.server_bind == "127.0.0.1":  # rerun-sdk >= 0.41; older ones serve every interface (warned)
            assert listening == {"127.0.0.1"}
        saved = tmp_path / "client.rrd"
        rerun_cli = Path(sys.executable).with_name("rerun")
        client = subprocess.Popen([str(rerun_cli), exporter.sink.server_url, "--save", str(saved), "--port",
                                   str(free_port())], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)  # fmt: skip  # (the CLI starts the native binary: a group)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not (saved.exists() and saved.stat().st_size > 1000):
                time.sleep(0.2)
            time.sleep(1.0)
        finally:
            os.killpg(client.pid, signal.SIGTERM)
            try:
                client.wait(timeout=5)
            except subprocess.TimeoutExpired:  # rerun-sdk 0.24's CLI may not stop on SIGTERM
                os.killpg(client.pid, signal.SIGKILL)
                client.wait(timeout=5)
        frame = read_rrd(saved, index="worldforge_time", contents="/otel/spans/**")
        texts = [str(text) for text in column_values(frame, "/otel/spans/served/served_span/log", "TextLog:text")]
        assert any("served span" in text for text in texts), texts
    finally:
        provider.shutdown()


def test_a_recording_stream_of_your_own_is_written_into_and_stays_yours(tmp_path):
    """RerunOptions(recording=...): spans go into the user's stream and its own destination; shutting the
    exporter down flushes the stream without closing it, so the user keeps logging to it."""
    import rerun as rr

    from conftest import recording_ids

    path = tmp_path / "mine.rrd"
    mine = rr.RecordingStream("my-app", recording_id="my-run", make_default=False, make_thread_default=False)
    mine.set_sinks(rr.FileSink(str(path)))
    exporter = RerunSpanExporter(options=RerunOptions(recording=mine))
    provider = TracerProvider(resource=Resource.create({"service.name": "mine"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.get_tracer("t").start_span("into my stream").end()
    provider.shutdown()
    assert exporter.spans_exported == 1 and exporter.sink.recording_id == "my-run"
    rr.log("my/own/log", rr.TextLog("still mine after the exporter shut down"), recording=mine)
    mine.flush()
    mine.disconnect()
    frame = read_rrd(path, index="log_time", contents="/**")
    assert "/otel/spans/mine/into_my_stream/log" in entity_paths(frame)
    assert column_values(frame, "/my/own/log", "TextLog:text") == ["still mine after the exporter shut down"]
    assert recording_ids(path)[0] == ("my-app", "my-run")


def test_attribute_columns_stay_aligned_with_their_rows_when_rows_lack_an_attribute(tmp_path):
    """Text, number and boolean attributes of one batch, some rows without them, each read back on its own row."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "web"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("web")
    given = [{"a": "x", "flag": True}, {"n": 1.5}, {"a": "y", "n": 2, "flag": False}, {}]
    for index, attributes in enumerate(given):
        span = tracer.start_span("GET /rows", attributes=attributes, start_time=1_000 * index)
        span.end(end_time=1_000 * index + 500)
    path = tmp_path / "rows.rrd"
    exporter = RerunSpanExporter(options=RerunOptions(save_path=path))
    assert exporter.export(memory.get_finished_spans()) is SpanExportResult.SUCCESS  # one batch, one column group
    exporter.shutdown()
    frame = read_rrd(path, index="worldforge_time", contents="/otel/spans/web/**")
    log = "/otel/spans/web/GET_rows/log"
    recorded = {}
    for _, row in frame.iterrows():
        text = row.get(f"{log}:TextLog:text")
        if text is None or not len(text):
            continue

        def cell(name, row=row):
            value = row.get(f"{log}:{name}")
            value = None if value is None or not hasattr(value, "__len__") or not len(value) else value[0]
            return None if isinstance(value, float) and math.isnan(value) else value  # pandas' null of a float

        span_id = int(str(text[0]).split("span=")[1][:16], 16)
        recorded[span_id] = {name: cell(name) for name in ("a", "n", "flag")}
    spans = memory.get_finished_spans()
    assert recorded == {span.context.span_id: {name: span.attributes.get(name) for name in ("a", "n", "flag")}
                        for span in spans}  # fmt: skip
