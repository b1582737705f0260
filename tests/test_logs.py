"""OTel logs -> Rerun TextLog: severities, trace links, Python logging next to the spans, host LoggerProviders."""

from __future__ import annotations

import logging
import math

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

import worldforge_otel
from conftest import assert_not_recorded, column_values, entity_paths, needs_rerun, read_rrd
from worldforge_otel import RerunOptions
from worldforge_otel.demo import DemoEvent
from worldforge_otel.rerun import RerunLogExporter
from worldforge_otel.rerun.log_exporter import rerun_level

try:
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter as InMemoryLogs
except ImportError:  # opentelemetry-sdk < 1.39
    from opentelemetry.sdk._logs.export import InMemoryLogExporter as InMemoryLogs


class _Record:
    def __init__(self, number=None, text=None):
        self.severity_number = number
        self.severity_text = text


@pytest.mark.parametrize(("number", "level"), [
    (SeverityNumber.TRACE, "TRACE"), (SeverityNumber.DEBUG4, "DEBUG"), (SeverityNumber.INFO, "INFO"),
    (SeverityNumber.INFO4, "INFO"), (SeverityNumber.WARN, "WARN"), (SeverityNumber.ERROR2, "ERROR"),
    (SeverityNumber.FATAL, "CRITICAL"), (SeverityNumber.FATAL4, "CRITICAL"),
])
def test_every_otel_severity_band_maps_to_a_rerun_level(number, level):
    assert rerun_level(_Record(number)) == level


def test_severity_text_is_the_fallback_and_unknown_is_info():
    assert rerun_level(_Record(None, "warning")) == "WARN"
    assert rerun_level(_Record(SeverityNumber.UNSPECIFIED, "fatal")) == "CRITICAL"
    assert rerun_level(_Record(None, None)) == "INFO"


@needs_rerun
def test_python_logging_lands_next_to_the_spans_linked_to_the_trace(tmp_path, clean_env):
    path = tmp_path / "logs.rrd"
    telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=path), service_name="logsvc",
                                          log_level="INFO", set_global_providers=False)
    logger = logging.getLogger("app.worker")
    tracer = telemetry.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("plan-step") as span:
        logger.info("planning with Authorization: Bearer sk-live-abcdef1234567890")
        trace_id = f"{span.get_span_context().trace_id:032x}"
        span_id = f"{span.get_span_context().span_id:016x}"
    logger.warning("outside any span", extra={"attempt": 2, "api_key": "sk-should-not-leak-0000"})
    logger.debug("below the level, not recorded")
    telemetry(DemoEvent("mock", "predict", "success", duration_ms=3.0))
    telemetry.shutdown()
    logger.error("after shutdown, not recorded")

    frame = read_rrd(path, index="worldforge_time", contents="/otel/**")
    assert "/otel/spans/logsvc/plan-step/log" in entity_paths(frame)
    texts = column_values(frame, "/otel/logs/logsvc/app.worker", "TextLog:text")
    levels = column_values(frame, "/otel/logs/logsvc/app.worker", "TextLog:level")
    assert sorted(zip(levels, texts, strict=True))[0][0] == "INFO" and len(texts) == 2
    inside = next(text for text in texts if text.startswith("planning"))
    assert inside.endswith(f"trace={trace_id} span={span_id}")
    assert "sk-live" not in inside and "[REDACTED]" in inside
    outside = next(text for text in texts if text.startswith("outside"))
    assert "trace=" not in outside and "attempt=2" in outside and "sk-should-not-leak" not in outside
    assert set(levels) == {"INFO", "WARN"}
    assert_not_recorded(path, "sk-live-abcdef", "sk-should-not-leak")
    assert not any(type(h).__name__ == "LoggingHandler" for h in logging.getLogger().handlers)  # removed


@needs_rerun
def test_attaches_to_the_hosts_logger_provider_which_keeps_its_own_exporter(tmp_path, clean_env):
    host_logs = InMemoryLogs()
    host = LoggerProvider(resource=Resource.create({"service.name": "host"}))
    host.add_log_record_processor(SimpleLogRecordProcessor(host_logs))
    telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=tmp_path / "h.rrd"), logger_provider=host,
                                          set_global_providers=False)
    host.get_logger("billing").emit(_api_log_record("invoice sent", SeverityNumber.WARN))
    telemetry.shutdown()
    host.get_logger("billing").emit(_api_log_record("after our shutdown", SeverityNumber.INFO))
    assert len(host_logs.get_finished_logs()) == 2  # the host's exporter got both; ours detached
    frame = read_rrd(tmp_path / "h.rrd", index="worldforge_time", contents="/otel/logs/**")
    assert column_values(frame, "/otel/logs/host/billing", "TextLog:text") == ["invoice sent"]
    assert column_values(frame, "/otel/logs/host/billing", "TextLog:level") == ["WARN"]


def _api_log_record(body, severity):
    from opentelemetry._logs import LogRecord

    return LogRecord(body=body, severity_number=severity, severity_text=severity.name)


@needs_rerun
def test_odd_bodies_and_attributes_are_written_not_raised(tmp_path):
    exporter = RerunLogExporter(options=RerunOptions(save_path=tmp_path / "odd.rrd"))
    provider = LoggerProvider(resource=Resource.create({"service.name": "odd-svc"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("odd")
    for body in [{"nested": {"deep": [1, 2, {"password": "hunter2"}]}}, math.nan, "x" * 20_000, None, 42]:
        logger.emit(_api_log_record(body, SeverityNumber.ERROR))
    assert exporter.records_exported == 5 and exporter.records_dropped == 0
    assert exporter.export([object()]).name == "FAILURE"  # a record it cannot read is counted, never raised
    assert exporter.records_dropped == 1
    provider.shutdown()
    assert exporter.export([object(), object()]).name == "FAILURE"  # after shutdown: counted too
    assert exporter.records_dropped == 3
    frame = read_rrd(tmp_path / "odd.rrd", index="worldforge_time", contents="/otel/logs/**")
    texts = column_values(frame, "/otel/logs/odd-svc/odd", "TextLog:text")
    assert len(texts) == 5 and all(len(text) < 9000 for text in texts)
    assert not any("hunter2" in text for text in texts)


@needs_rerun
def test_a_map_attribute_reads_as_json_once_and_words_stay_plain(tmp_path):
    exporter = RerunLogExporter(options=RerunOptions(save_path=tmp_path / "maps.rrd"))
    provider = LoggerProvider(resource=Resource.create({"service.name": "svc"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    record = _api_log_record("order placed", SeverityNumber.INFO)
    record.attributes = {"user": {"id": 7, "tier": "gold"}, "route": "/cart", "note": "two words", "ids": [1, 2]}
    provider.get_logger("shop").emit(record)
    provider.shutdown()
    frame = read_rrd(tmp_path / "maps.rrd", index="worldforge_time", contents="/otel/logs/**")
    (line,) = column_values(frame, "/otel/logs/svc/shop", "TextLog:text")
    assert line == 'order placed user={"id":7,"tier":"gold"} route=/cart note="two words" ids=[1,2]'


def test_shutdown_gives_the_root_logger_its_level_and_handlers_back(clean_env):
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    root.setLevel(logging.WARNING)
    try:
        for _ in range(3):  # and again: nothing piles up
            telemetry = worldforge_otel.configure(rerun=False, log_level="DEBUG", set_global_providers=False)
            assert root.level == logging.DEBUG  # lowered, so DEBUG records reach the handler
            telemetry.shutdown()
            assert root.level == logging.WARNING and root.handlers == handlers
    finally:
        root.setLevel(level)
