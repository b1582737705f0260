from __future__ import annotations

import logging

import pytest
from opentelemetry.trace import NoOpTracerProvider

import worldforge_otel
from conftest import column_values, needs_rerun, read_rrd
from worldforge_otel import AlreadyConfiguredError, RerunOptions
from worldforge_otel.demo import DemoEvent


@needs_rerun
def test_attaches_to_the_hosts_providers_so_both_backends_get_the_spans(tmp_path, providers, caplog):
    telemetry = worldforge_otel.configure(
        rerun=RerunOptions(save_path=tmp_path / "dual.rrd"),
        tracer_provider=providers.tracer_provider,
        meter_provider=providers.meter_provider,
        set_global_providers=False,
    )
    telemetry(DemoEvent("mock", "predict", "success", duration_ms=5.0))
    telemetry(DemoEvent("mock", "plan", "failure", duration_ms=2.0, message="no plan"))
    assert telemetry.force_flush() is True
    host_spans = providers.spans.get_finished_spans()  # the host's own exporter (think Jaeger)
    assert [s.name for s in host_spans] == ["predict mock", "plan mock"]
    assert providers.metric_points()["worldforge.provider.events"]
    telemetry.shutdown()
    telemetry.shutdown()  # idempotent
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    if hasattr(providers.meter_provider, "add_metric_reader"):
        assert warnings == []  # a quiet detach
    else:  # opentelemetry-sdk < 1.43: one line that says why metrics are not attached, nothing from the SDK
        assert len(warnings) == 1 and "needs >= 1.43" in warnings[0]
    frame = read_rrd(tmp_path / "dual.rrd", index="worldforge_event", contents="/worldforge/**")
    assert column_values(frame, "/worldforge/events/mock/predict/success/duration_ms", "Scalars:scalars") == [5.0]
    assert telemetry.spans_exported == 2
    # After shutdown the host's provider keeps working, without our processor.
    telemetry(DemoEvent("mock", "predict", "success"))
    providers.tracer_provider.get_tracer("host").start_span("later").end()
    assert len(providers.spans.get_finished_spans()) == 3


def test_second_configure_is_explicit(providers):
    kwargs = {"rerun": False, "tracer_provider": providers.tracer_provider,
              "meter_provider": providers.meter_provider, "set_global_providers": False}
    first = worldforge_otel.configure(**kwargs)
    assert worldforge_otel.configure(**kwargs) is first
    with pytest.raises(AlreadyConfiguredError, match="shutdown"):
        worldforge_otel.configure(**{**kwargs, "service_name": "other"})
    first.shutdown()
    second = worldforge_otel.configure(**kwargs)
    assert second is not first
    second(DemoEvent("mock", "predict", "success"))
    assert len(providers.spans.get_finished_spans()) == 1  # one processor, never duplicated


def test_rerun_false_needs_no_rerun_and_handle_is_an_event_handler(providers):
    telemetry = worldforge_otel.configure(rerun=False, tracer_provider=providers.tracer_provider,
                                          meter_provider=providers.meter_provider, set_global_providers=False)
    assert telemetry.rerun_sink is None and telemetry.recording_path is None
    telemetry({"provider": "mock", "operation": "score", "phase": "success", "duration_ms": 1.0})
    assert telemetry.stats.events_handled == 1


@needs_rerun
def test_a_non_sdk_provider_is_explained_not_crashed(caplog, providers):
    with caplog.at_level(logging.WARNING, logger="worldforge_otel"):
        telemetry = worldforge_otel.configure(
            rerun=RerunOptions(save_path="/tmp/never-written-worldforge-otel.rrd"),
            tracer_provider=NoOpTracerProvider(), meter_provider=providers.meter_provider,
            set_global_providers=False,
        )
    assert "not an OpenTelemetry SDK provider" in caplog.text
    telemetry(DemoEvent("mock", "predict", "success"))
    assert telemetry.stats.events_dropped == 0


@needs_rerun
def test_an_exporter_already_attached_by_otel_traces_exporter_is_not_doubled(tmp_path, clean_env):
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from worldforge_otel.rerun import RerunMetricExporter, RerunSpanExporter

    # What opentelemetry-instrument builds from OTEL_TRACES_EXPORTER=rerun / OTEL_METRICS_EXPORTER=rerun.
    clean_env.setenv("OTEL_EXPORTER_RERUN_SAVE_PATH", str(tmp_path / "env.rrd"))
    host_exporter = RerunSpanExporter()
    host = TracerProvider()
    host.add_span_processor(BatchSpanProcessor(host_exporter))
    meters = MeterProvider(metric_readers=[PeriodicExportingMetricReader(RerunMetricExporter())])
    telemetry = worldforge_otel.configure(tracer_provider=host, meter_provider=meters, set_global_providers=False)
    assert telemetry.rerun_sink is host_exporter.sink and telemetry.recording_path == tmp_path / "env.rrd"
    assert telemetry._parts.span_processors == [] and telemetry._parts.metric_readers == []
    telemetry(DemoEvent("mock", "predict", "success", duration_ms=1.0))
    telemetry.shutdown()
    host.shutdown()
    meters.shutdown()
    assert host_exporter.spans_exported == 1
    frame = read_rrd(tmp_path / "env.rrd", index="worldforge_event", contents="/worldforge/**")
    assert len(column_values(frame, "/worldforge/events/mock/predict/success/log", "TextLog:text")) == 1


def test_a_non_sdk_logger_provider_is_explained(caplog, providers):
    from opentelemetry._logs import NoOpLoggerProvider

    with caplog.at_level(logging.WARNING, logger="worldforge_otel"):
        telemetry = worldforge_otel.configure(rerun=False, otlp_endpoint="http://127.0.0.1:9", log_level="INFO",
                                              tracer_provider=providers.tracer_provider,
                                              meter_provider=providers.meter_provider,
                                              logger_provider=NoOpLoggerProvider(), set_global_providers=False)
    assert "LoggerProvider NoOpLoggerProvider is not an OpenTelemetry SDK provider" in caplog.text
    assert "logger_provider=opentelemetry.sdk._logs.LoggerProvider(...)" in caplog.text
    telemetry.shutdown(timeout_millis=1000)


@pytest.mark.parametrize("ending", ["telemetry.shutdown()\n", ""], ids=["shutdown-then-exit", "exit-alone"])
def test_exit_says_nothing_and_leaves_a_whole_recording(tmp_path, clean_env, ending):
    """A configure() that created the providers, then the process exits (after shutdown(), or without it: the
    providers' own exit handlers then shut the exporters down before ours runs): no warning, the file complete."""
    import subprocess
    import sys

    path = tmp_path / "quiet.rrd"
    script = (
        "import worldforge_otel\n"
        "from worldforge_otel.demo import DemoEvent\n"
        f"telemetry = worldforge_otel.configure(rerun=worldforge_otel.RerunOptions(save_path={str(path)!r}))\n"
        "telemetry(DemoEvent('mock', 'predict', 'success', duration_ms=1.0))\n"
        + ending
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "already shut down" not in result.stderr and result.stderr.strip() == "", result.stderr
    frame = read_rrd(path, index="worldforge_event", contents="/worldforge/**")
    assert column_values(frame, "/worldforge/events/mock/predict/success/log", "TextLog:level") == ["INFO"]


@needs_rerun
def test_flush_and_shutdown_keep_their_deadlines_with_the_collector_down_and_the_file_whole(tmp_path):
    """force_flush(t) and shutdown(t) return within t (plus a little) whatever OTLP does; the recording comes first."""
    import subprocess
    import sys
    import time

    from otlp_backend import free_port

    path = tmp_path / "deadline.rrd"
    telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=path), set_global_providers=False,
                                          otlp_endpoint=f"http://127.0.0.1:{free_port()}")  # fmt: skip
    for _ in range(20):
        telemetry(DemoEvent("mock", "predict", "success", duration_ms=1.0))
    started = time.monotonic()
    telemetry.force_flush(1000)
    flushed = time.monotonic() - started
    started = time.monotonic()
    telemetry.shutdown(2000)
    shut = time.monotonic() - started
    assert flushed < 1.5 and shut < 2.5, (flushed, shut)
    verify = subprocess.run([sys.executable, "-m", "rerun", "rrd", "verify", str(path)], capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    frame = read_rrd(path, index="worldforge_event", contents="/worldforge/events/**")
    assert len(column_values(frame, "/worldforge/events/mock/predict/success/log", "TextLog:text")) == 20


def test_configure_shutdown_cycles_leave_no_exit_hooks_and_no_live_handles(tmp_path):
    import gc
    import weakref

    from worldforge_otel.rerun import at_exit

    before = len(at_exit._hooks)
    handles = []
    for cycle in range(5):
        telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=tmp_path / f"c{cycle}.rrd"),
                                              set_global_providers=False)  # fmt: skip
        telemetry(DemoEvent("mock", "predict", "success", duration_ms=1.0))
        telemetry.shutdown()
        handles.append(weakref.ref(telemetry))
        del telemetry
    gc.collect()
    assert len(at_exit._hooks) == before  # each shutdown took its exit flush back
    assert sum(handle() is not None for handle in handles) <= 1  # only the last is still known (as the active one)
