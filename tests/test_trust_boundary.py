"""The trust boundary, end to end: a corpus of realistic secrets through every path, then every string that
left the process is decoded and searched.

Paths: the provider-event handler; a host's own spans, span events, exceptions, logs (``logger.exception``
included) and metric labels; OTLP sent to ``worldforge-otel receive`` (spoofing our scope name, artifact
payloads, resource attributes); and the OTLP side of dual export. The recording is read back chunk by chunk
(an ``.rrd`` is compressed: its raw bytes prove nothing) and the OTLP requests are decoded from protobuf.
"""

from __future__ import annotations

import json
import logging
import time

import pytest
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs import export as log_export
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

import worldforge_otel
from conftest import assert_not_recorded, needs_rerun, recorded_strings
from otlp_backend import JaegerShapedReceiver
from secret_corpus import CORPUS, SECRET_KEYS, leaks
from worldforge_otel import semconv
from worldforge_otel.rerun import RerunOptions
from worldforge_otel.sanitize import REDACTED, clean_text, redact_text

pytestmark = needs_rerun


def _plant_host_telemetry(tracer, meter, logger: logging.Logger) -> None:
    """What a host's own code emits, every field carrying a secret."""
    counter = meter.create_counter("app.calls")
    for kind, text, _ in CORPUS:
        with tracer.start_as_current_span(f"call {text}", attributes={"note": text, "url.full": text, **SECRET_KEYS,
                                                                       "pair": (text, "ok")}) as span:  # fmt: skip
            span.add_event(f"event {text}", {"detail": text, "password": SECRET_KEYS["password"]})
            span.record_exception(RuntimeError(text))
            span.set_status(Status(StatusCode.ERROR, text))
            logger.warning("calling with %s", text)
            try:
                raise ValueError(f"{kind} failed: {text}")
            except ValueError:
                logger.exception("request failed")
        counter.add(1, {"note": text, **SECRET_KEYS})


def test_no_planted_secret_leaves_through_configure_to_rerun_or_otlp(tmp_path):
    backend = JaegerShapedReceiver()
    path = tmp_path / "secrets.rrd"
    telemetry = worldforge_otel.configure(
        rerun=RerunOptions(save_path=path), otlp_endpoint=f"{backend.url}/v1/traces", service_name="secrets",
        set_global_providers=False, log_level="INFO",
    )  # fmt: skip
    try:
        for kind, text, _ in CORPUS:
            telemetry({"provider": "remote", "operation": "generate", "phase": "failure", "target": text,
                       "message": text, "metadata": {"note": text, kind: text, **SECRET_KEYS}})  # fmt: skip
        telemetry.artifacts.record_doctor({"env": {kind: text for kind, text, _ in CORPUS}, **SECRET_KEYS})
        logger = logging.getLogger("app.secrets")
        _plant_host_telemetry(telemetry.tracer_provider.get_tracer("app"), telemetry.meter_provider.get_meter("app"),
                              logger)  # fmt: skip
    finally:
        telemetry.shutdown()
    recorded = recorded_strings(path)
    backend.wait_for_spans(2 * len(CORPUS) + 1)
    shipped = backend.strings()
    backend.close()
    # Not vacuous: every path delivered, and redaction is what happened to the secrets.
    assert telemetry.stats.events_handled == len(CORPUS)
    assert sum(REDACTED in s for s in recorded) > len(CORPUS) and sum(REDACTED in s for s in shipped) > len(CORPUS)
    assert any(s.startswith("call ") for s in shipped) and any(s == "request failed" for s in shipped)
    assert any(s.startswith("/otel/metrics/secrets/app.calls") for s in recorded)
    assert any("/otel/logs/secrets/" in s for s in recorded)
    assert leaks(recorded) == []
    assert leaks(shipped) == []


def test_no_planted_secret_leaves_through_receive_even_from_a_spoofed_scope(tmp_path):
    pytest.importorskip("grpc", reason="collector mode needs the collector extra")
    from test_collector import Receiver, post

    resource = Resource.create({"service.name": "hostile", "deployment.token": SECRET_KEYS["auth"],
                                "note": CORPUS[0][1]})  # fmt: skip
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    spoofed = tracer_provider.get_tracer(semconv.INSTRUMENTATION_SCOPE)  # a sender claiming to be our handler
    for kind, text, _ in CORPUS:
        spoofed.start_span("generate remote", attributes={
            semconv.PROVIDER: "remote", semconv.OPERATION: "generate", semconv.PHASE: "failure",
            semconv.TARGET: text, semconv.MESSAGE: text, f"{semconv.METADATA_PREFIX}api_key": text,
            f"{semconv.METADATA_PREFIX}{kind}": text}).end()  # fmt: skip
        spoofed.start_span("worldforge.doctor", attributes={
            semconv.ARTIFACT_KIND: "doctor",
            semconv.ARTIFACT_PAYLOAD: json.dumps({"password": text, "env": {"OPENAI_API_KEY": text}, "note": text}),
        }).end()  # fmt: skip
    logs = (getattr(log_export, "InMemoryLogRecordExporter", None) or log_export.InMemoryLogExporter)()
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    logger = logging.getLogger("hostile.app")
    logger.propagate = False
    logger.addHandler(LoggingHandler(logger_provider=logger_provider))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    _plant_host_telemetry(tracer_provider.get_tracer("host"), meter_provider.get_meter("host"), logger)

    receiver = Receiver(tmp_path / "received.rrd")
    sent_spans = spans.get_finished_spans()
    for start in range(0, len(sent_spans), 50):
        body = encode_spans(sent_spans[start : start + 50]).SerializeToString()
        assert post(receiver.url("traces"), body, "application/x-protobuf")[0] == 200
    assert post(receiver.url("logs"), encode_logs(list(logs.get_finished_logs())).SerializeToString(),
                "application/x-protobuf")[0] == 200  # fmt: skip
    assert post(receiver.url("metrics"), encode_metrics(reader.get_metrics_data()).SerializeToString(),
                "application/x-protobuf")[0] == 200  # fmt: skip
    printed = receiver.stop()
    assert f"- traces: {len(sent_spans)} received, {len(sent_spans)} written" in printed
    recorded = recorded_strings(tmp_path / "received.rrd")
    assert sum(s.startswith("FAILURE remote.generate") for s in recorded) == len(CORPUS)  # spoofed spans written
    assert any('"password":"[REDACTED]"' in s.replace(" ", "") for s in recorded)  # artifact payloads drawn
    assert any("/otel/metrics/hostile/app.calls" in s for s in recorded)
    assert leaks(recorded) == []


@pytest.mark.parametrize("size", [100_000])
@pytest.mark.parametrize("shape", ["a-", "a:", "--a-", "Bearer ", "x=y&", "eyJa.", "https://h/a", "aA1_", "x",
                                   "deadbeef-", "pass"])
def test_the_sanitizer_is_linear_on_adversarial_input(shape, size):
    text = (shape * (size // len(shape) + 1))[:size]
    started = time.perf_counter()
    redact_text(text)
    clean_text(text, max_chars=size)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"{shape!r} x {size}: {elapsed:.2f}s"  # measured ~0.05-0.1 s; quadratic was minutes


@pytest.mark.parametrize(("kind", "text", "secret"), CORPUS, ids=[kind for kind, _, _ in CORPUS])
def test_every_corpus_secret_is_redacted_in_free_text_and_when_cut_at_the_limit(kind, text, secret):
    assert secret not in redact_text(text)
    start = text.index(secret)
    cut = clean_text("x " * 10 + text, max_chars=20 + start + len(secret) // 2)  # the limit falls inside the secret
    assert secret[: len(secret) // 2 + 1] not in cut or secret[: len(secret) // 2 + 1] in text[:start]


def test_no_host_thread_waits_on_sanitizing_a_100kb_adversarial_string(tmp_path):
    """Log message, event target and span attribute: the calling thread hands over, the workers sanitize."""
    hostile = ("a-" * 50_000) + " password=Hunt3rAdv3rs"
    telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=tmp_path / "adversarial.rrd"),
                                          set_global_providers=False, log_level="INFO")  # fmt: skip
    tracer = telemetry.tracer_provider.get_tracer("app")
    logger = logging.getLogger("app.adversarial")
    costs = {}
    try:
        for name, call in {
            "log": lambda: logger.warning("payload %s", hostile),
            "event": lambda: telemetry({"provider": "p", "operation": "predict", "phase": "ok", "target": hostile}),
            "span": lambda: tracer.start_span("upload", attributes={"body": hostile}).end(),
        }.items():
            started = time.thread_time()
            call()
            costs[name] = time.thread_time() - started
        assert telemetry.force_flush(30_000)
    finally:
        telemetry.shutdown()
    assert max(costs.values()) < 0.05, costs  # was 5-6 s with redaction on the calling thread
    assert_not_recorded(tmp_path / "adversarial.rrd", "Hunt3rAdv3rs")


def test_attribute_dict_copies_every_shape_of_attributes_into_a_plain_dict():
    """The SDK's attributes are copied with their own C ``copy()``; any other mapping through the mapping protocol."""
    from collections.abc import Mapping
    from types import MappingProxyType

    from worldforge_otel.boundary import CleanAttributes, attribute_dict

    class OddCopy(dict):  # a mapping whose copy() is not a plain dict: the protocol is used instead
        def copy(self):
            return list(self.items())

    class ReadOnly(Mapping):  # no copy() at all
        def __init__(self, data):
            self._data = data

        def __getitem__(self, key):
            return self._data[key]

        def __iter__(self):
            return iter(self._data)

        def __len__(self):
            return len(self._data)

    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    span = provider.get_tracer("t").start_span("s", attributes={"a": 1, "b": "two", "c": [1.5, 2.5]})
    span.add_event("e", {"k": True})
    span.end()
    (finished,) = spans.get_finished_spans()
    expected = {"a": 1, "b": "two", "c": (1.5, 2.5)}
    shapes = [finished.attributes, dict(expected), CleanAttributes(expected), MappingProxyType(OddCopy(expected)),
              ReadOnly(expected), MappingProxyType(ReadOnly(expected))]  # fmt: skip
    for shape in shapes:
        copied = attribute_dict(shape)
        assert type(copied) is dict and copied == expected and copied is not shape, type(shape)
        copied["new"] = 0
        assert "new" not in shape
    assert attribute_dict(finished.events[0].attributes) == {"k": True}  # the SDK's BoundedAttributes
    assert attribute_dict(None) == {} and attribute_dict({}) == {}
