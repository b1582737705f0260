"""OTEL_EXPORTER_RERUN_* and the standard OTEL_* variables: precedence, bad values, standard settings."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import worldforge_otel
from conftest import entity_paths, needs_rerun, read_rrd, recording_ids
from worldforge_otel import BatchOptions, RerunOptions
from worldforge_otel import environment_variables as names
from worldforge_otel._providers import attached_objects
from worldforge_otel.demo import DemoEvent
from worldforge_otel.instrumentation import ProviderEventHandler
from worldforge_otel.rerun import RerunLogExporter, RerunMetricExporter, RerunSpanExporter, resolve_options
from worldforge_otel.sanitize import TRUNCATION_MARKER

# field, variable, value in the environment, value given in code, default
PRECEDENCE = [
    ("spawn", names.OTEL_EXPORTER_RERUN_SPAWN, "true", False, False, True),
    ("connect_url", names.OTEL_EXPORTER_RERUN_CONNECT_URL, "rerun+http://10.1.2.3:9876/proxy",
     "rerun+http://127.0.0.1:9877/proxy", None, "rerun+http://10.1.2.3:9876/proxy"),
    ("serve_grpc_port", names.OTEL_EXPORTER_RERUN_SERVE_GRPC_PORT, "9999", 1234, None, 9999),
    ("application_id", names.OTEL_EXPORTER_RERUN_APPLICATION_ID, "app-env", "app-code", "worldforge", "app-env"),
    ("recording_id", names.OTEL_EXPORTER_RERUN_RECORDING_ID, "rec-env", "rec-code", None, "rec-env"),
    ("shutdown_timeout_secs", names.OTEL_EXPORTER_RERUN_SHUTDOWN_TIMEOUT, "1.5", 0.25, 5.0, 1.5),
    ("save_path", names.OTEL_EXPORTER_RERUN_SAVE_PATH, "{tmp}/env.rrd", "{tmp}/code.rrd", None, "{tmp}/env.rrd"),
]


@pytest.mark.parametrize(("field", "variable", "env_value", "keyword", "default", "parsed"), PRECEDENCE,
                         ids=[row[0] for row in PRECEDENCE])
def test_keyword_beats_environment_beats_default(tmp_path, clean_env, field, variable, env_value, keyword, default,
                                                 parsed):
    def fill(value):
        return Path(value.format(tmp=tmp_path)) if field == "save_path" and value else value

    assert getattr(resolve_options(), field) == default
    clean_env.setenv(variable, env_value.format(tmp=tmp_path))
    assert getattr(resolve_options(), field) == fill(parsed)
    assert getattr(resolve_options(RerunOptions(**{field: fill(keyword)})), field) == fill(keyword)
    # The other fields of a partly-given RerunOptions still come from the environment.
    other = "recording_id" if field != "recording_id" else "application_id"
    assert getattr(resolve_options(RerunOptions(**{other: "x"})), field) == fill(parsed)


def test_every_variable_is_in_the_table():
    assert {row[1] for row in PRECEDENCE} == set(names.ALL)


BAD_VALUES = [
    (names.OTEL_EXPORTER_RERUN_SPAWN, "maybe", "is not a boolean; set it to true or false"),
    (names.OTEL_EXPORTER_RERUN_SERVE_GRPC_PORT, "http", "is not a TCP port; set a number from 1 to 65535"),
    (names.OTEL_EXPORTER_RERUN_SERVE_GRPC_PORT, "70000", "is not a TCP port"),
    (names.OTEL_EXPORTER_RERUN_CONNECT_URL, "localhost:9876", "is not a Rerun URL; use rerun+http://HOST:PORT/proxy"),
    (names.OTEL_EXPORTER_RERUN_CONNECT_URL, "rerun+http://host:notaport/proxy", "is not a Rerun URL"),
    (names.OTEL_EXPORTER_RERUN_SAVE_PATH, "{tmp}/a-file/x.rrd",
     "a-file is a file, not a directory); set a path in a writable directory"),
    (names.OTEL_EXPORTER_RERUN_SHUTDOWN_TIMEOUT, "soon", "is not a number of seconds"),
    ("OTEL_SDK_DISABLED", "perhaps", "is not a boolean"),
]


@needs_rerun
@pytest.mark.parametrize(("variable", "value", "message"), BAD_VALUES, ids=[f"{v}={x}" for v, x, _ in BAD_VALUES])
def test_a_bad_value_is_one_clear_line_and_the_exporters_still_write_the_default_file(
    tmp_path, clean_env, caplog, variable, value, message
):
    (tmp_path / "a-file").write_text("not a directory")
    clean_env.chdir(tmp_path)
    clean_env.setenv(variable, value.format(tmp=tmp_path))
    with caplog.at_level(logging.ERROR, logger="worldforge_otel"):
        spans = RerunSpanExporter()  # as the SDK builds it: no arguments, no exception
        metrics = RerunMetricExporter()
        logs = RerunLogExporter()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors  # once, though three exporters read it
    assert variable in errors[0] and message in errors[0]
    assert spans.sink is metrics.sink is logs.sink  # one recording per process
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    ProviderEventHandler(tracer_provider=provider, deferred=False)(DemoEvent("mock", "predict", "success",
                                                                               duration_ms=1.0))
    for exporter in (spans, metrics, logs):
        exporter.shutdown()
    assert spans.spans_exported == 1
    (recording,) = (tmp_path / ".worldforge" / "rerun").glob("*.rrd")
    frame = read_rrd(recording, index="worldforge_event", contents="/worldforge/**")
    assert "/worldforge/events/mock/predict/success/log" in entity_paths(frame)


@needs_rerun
def test_environment_chooses_the_destination_and_ids(tmp_path, clean_env):
    path = tmp_path / "from-env.rrd"
    clean_env.setenv(names.OTEL_EXPORTER_RERUN_SAVE_PATH, str(path))
    clean_env.setenv(names.OTEL_EXPORTER_RERUN_APPLICATION_ID, "env-app")
    clean_env.setenv(names.OTEL_EXPORTER_RERUN_RECORDING_ID, "env-recording")
    exporter = RerunSpanExporter()
    assert exporter.sink.save_path == path
    assert exporter.sink.options.application_id == "env-app"
    exporter.shutdown()
    assert recording_ids(path) == [("env-app", "env-recording")]


@needs_rerun
@pytest.mark.parametrize("source", ["OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "keyword"])
def test_service_name_from_the_standard_variables_names_the_entity_paths(tmp_path, clean_env, source):
    if source == "OTEL_SERVICE_NAME":
        clean_env.setenv("OTEL_SERVICE_NAME", "svc-env")
    elif source == "OTEL_RESOURCE_ATTRIBUTES":
        clean_env.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=svc-env,deployment.environment=test")
    else:
        clean_env.setenv("OTEL_SERVICE_NAME", "ignored")
    telemetry = worldforge_otel.configure(
        rerun=RerunOptions(save_path=tmp_path / "svc.rrd"), set_global_providers=False,
        service_name="svc-code" if source == "keyword" else None,
    )
    telemetry.tracer_provider.get_tracer("host").start_span("checkout").end()
    telemetry.shutdown()
    frame = read_rrd(tmp_path / "svc.rrd", index="worldforge_time", contents="/otel/spans/**")
    expected = "svc-code" if source == "keyword" else "svc-env"
    assert f"/otel/spans/{expected}/checkout/log" in entity_paths(frame)


def test_sdk_disabled_records_nothing_and_writes_no_file(tmp_path, clean_env):
    clean_env.chdir(tmp_path)
    clean_env.setenv("OTEL_SDK_DISABLED", "true")
    telemetry = worldforge_otel.configure(set_global_providers=False)
    telemetry(DemoEvent("mock", "predict", "success"))
    exporter = RerunSpanExporter()
    assert telemetry.stats.events_handled == 0 and telemetry.rerun_sink is None
    assert not exporter.sink.enabled
    telemetry.shutdown()
    exporter.shutdown()
    assert not (tmp_path / ".worldforge").exists()


def _batch_settings(telemetry):
    (processor,) = [node for node in attached_objects(telemetry.tracer_provider) if hasattr(node, "_max_queue_size")]
    return processor._max_queue_size, processor._schedule_delay_millis


def _metric_interval(telemetry):
    nodes = attached_objects(telemetry.meter_provider)
    (reader,) = [node for node in nodes if hasattr(node, "_export_interval_millis")]
    return reader._export_interval_millis


def test_bsp_and_metric_interval_come_from_otel_variables_unless_given(tmp_path, clean_env):
    clean_env.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "777")
    clean_env.setenv("OTEL_BSP_SCHEDULE_DELAY", "123")
    clean_env.setenv("OTEL_METRIC_EXPORT_INTERVAL", "4321")
    telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=tmp_path / "a.rrd"), set_global_providers=False)
    assert _batch_settings(telemetry) == (777, 123)
    assert _metric_interval(telemetry) == 4321
    telemetry.shutdown()
    telemetry = worldforge_otel.configure(
        rerun=RerunOptions(save_path=tmp_path / "b.rrd"), set_global_providers=False,
        batch=BatchOptions(max_queue_size=600, schedule_delay_millis=10), metric_export_interval_millis=999,
    )
    assert _batch_settings(telemetry) == (600, 10)
    assert _metric_interval(telemetry) == 999
    telemetry.shutdown()


def test_attribute_length_limit_is_respected_marked_and_warned_once(clean_env, caplog):
    clean_env.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "48")
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    handler = ProviderEventHandler(tracer_provider=provider, deferred=False)
    long_message = "the model refused the request because " + "x" * 200
    with caplog.at_level(logging.WARNING, logger="worldforge_otel"):
        handler(DemoEvent("mock", "predict", "failure", message=long_message))
        handler(DemoEvent("mock", "predict", "failure", message=long_message, metadata={"tags": ["y" * 100, "ok"]}))
    first, second = spans.get_finished_spans()
    message = first.attributes["worldforge.message"]
    assert len(message) <= 48 and message.startswith("the model") and "truncated" in message
    assert message.endswith(TRUNCATION_MARKER.format(dropped=len(long_message) - 48))
    tags = second.attributes["worldforge.metadata.tags"]
    assert len(tags[0]) <= 48 and "truncated" in tags[0] and tags[1] == "ok"
    warnings = [r.getMessage() for r in caplog.records if "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT" in r.getMessage()]
    assert len(warnings) == 1 and "worldforge.message" in warnings[0]


def test_inconsistent_bsp_variables_are_explained_and_fall_back_to_sdk_defaults(tmp_path, clean_env, caplog):
    clean_env.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "10")  # smaller than the default batch size of 512
    with caplog.at_level(logging.ERROR, logger="worldforge_otel"):
        telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=tmp_path / "c.rrd"),
                                              set_global_providers=False)
    assert "span batch settings are invalid" in caplog.text and "OTEL_BSP_" in caplog.text
    assert _batch_settings(telemetry) == (2048, 5000)
    telemetry(DemoEvent("mock", "predict", "success"))
    assert telemetry.force_flush() and telemetry.spans_exported == 1


def test_rerun_batches_are_larger_unless_the_user_sized_them(tmp_path, clean_env):
    telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=tmp_path / "d.rrd"), set_global_providers=False)
    nodes = [n for n in attached_objects(telemetry.tracer_provider) if hasattr(n, "_max_export_batch_size")]
    assert [(n._max_queue_size, n._max_export_batch_size) for n in nodes] == [(16_384, 4_096)]
    telemetry.shutdown()
