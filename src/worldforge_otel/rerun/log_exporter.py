"""``RerunLogExporter``: OTel log records (Python ``logging`` included) -> Rerun TextLog.

Each record becomes one line at ``otel/logs/<service>/<logger>`` on ``worldforge_time``, with the OTel
severity mapped to Rerun's levels and, when the record was emitted inside a span, ``trace=<id> span=<id>``
so it can be matched with the span's entry in Rerun and in any trace backend.

Usage::

    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from worldforge_otel.rerun.log_exporter import RerunLogExporter

    provider = LoggerProvider()
    provider.add_log_record_processor(BatchLogRecordProcessor(RerunLogExporter()))
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Final

from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

from worldforge_otel.boundary import clean_log
from worldforge_otel.rerun.columns import ColumnBatch
from worldforge_otel.rerun.exporter_core import CoreBackedExporter, ExportCore
from worldforge_otel.rerun.layout import log_path, service_of
from worldforge_otel.rerun.options import RerunOptions
from worldforge_otel.rerun.sinks import RerunSink
from worldforge_otel.sanitize import truncate

MAX_LINE_CHARS: Final = 8192
UNKNOWN_LOGGER: Final = "root"
# OTel severity numbers 1-24 in bands of four, in order: TRACE, DEBUG, INFO, WARN, ERROR, FATAL.
_LEVELS_BY_BAND: Final = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "CRITICAL")
_LEVELS_BY_TEXT: Final = {
    "TRACE": "TRACE", "DEBUG": "DEBUG", "INFO": "INFO", "WARN": "WARN", "WARNING": "WARN",
    "ERROR": "ERROR", "FATAL": "CRITICAL", "CRITICAL": "CRITICAL",
}  # fmt: skip
# Attributes the logging handler adds to every record: noise on a one-line view.
_QUIET_ATTRIBUTES: Final = frozenset({"code.filepath", "code.file.path", "code.function", "code.function.name",
                                      "code.lineno", "code.line.number", "otelSpanID", "otelTraceID",
                                      "otelTraceSampled", "otelServiceName"})  # fmt: skip


class RerunLogExporter(CoreBackedExporter, LogRecordExporter):
    """Writes OTel log records into a Rerun recording. Use it behind a ``BatchLogRecordProcessor``.

    Args:
        sink: A :class:`RerunSink` you own; mutually exclusive with ``options``.
        options: Destinations; ``None`` fields come from ``OTEL_EXPORTER_RERUN_*``.
    """

    def __init__(self, *, sink: RerunSink | None = None, options: RerunOptions | None = None) -> None:
        self._core = ExportCore("logs", sink=sink, options=options)

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        """Translate and write the records; returns FAILURE instead of raising."""
        ok = self._core.export(len(batch), lambda columns: add_log_records(columns, batch))
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Flush written data within ``timeout_millis``."""
        return self._core.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Stop exporting; idempotent."""
        self._core.shutdown()

    @property
    def records_exported(self) -> int:
        """Log records written so far."""
        return self._core.exported

    @property
    def records_dropped(self) -> int:
        """Log records that could not be written."""
        return self._core.dropped


def add_log_records(batch: ColumnBatch, records: Sequence[Any]) -> int:
    """Add one TextLog row per record (``ReadableLogRecord`` or the older ``LogData``); returns records skipped."""
    skipped = 0
    for original in records:
        try:
            item = clean_log(original)  # the trust boundary: body, attributes, exception text, resource
            record = item.log_record
            service = service_of(getattr(item, "resource", None) or getattr(record, "resource", None))
            scope = getattr(item, "instrumentation_scope", None)
            logger_name = getattr(scope, "name", None) or UNKNOWN_LOGGER
            time_ns = record.timestamp or record.observed_timestamp or 0
            batch.text_log(log_path(service, logger_name), log_line(record), level=rerun_level(record), time_ns=time_ns)
        except Exception:
            skipped += 1
    return skipped


def rerun_level(record: Any) -> str:
    """Rerun TextLog level of an OTel log record: by severity number, else severity text, else INFO."""
    number = getattr(getattr(record, "severity_number", None), "value", None)
    if isinstance(number, int) and 1 <= number <= 24:
        return _LEVELS_BY_BAND[(number - 1) // 4]
    text = str(getattr(record, "severity_text", None) or "").upper()
    return _LEVELS_BY_TEXT.get(text, "INFO")


_TERMINAL_CODES: Final = re.compile(r"\x1b(?:\[[0-?]{0,32}[ -/]{0,8}[@-~]|\][^\x07\x1b]{0,4096}(?:\x07|\x1b\\)?)")


def attribute_text(value: object) -> str:
    """A value as a log line shows it: plain words and JSON maps/lists as they are, other text quoted."""
    if isinstance(value, str):
        plain = value and not any(char.isspace() or char == '"' for char in value)
        is_json = value[:1] in ("{", "[") and value[-1:] in ("}", "]")
        return value if plain or is_json else json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, tuple | list):
        return json.dumps(list(value), ensure_ascii=False, separators=(",", ":"), default=str)
    return json.dumps(str(value), ensure_ascii=False)


def log_line(record: Any) -> str:
    """The one-line text of a (sanitized) record: event name, body, extra attributes, trace and span ids.

    Terminal colour and cursor codes in the body are removed. Extra attributes follow as ``key=value``
    (:func:`attribute_text`), so a map attribute (JSON text after the trust boundary) reads as JSON once.
    """
    body = record.body
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, default=str)
    text = _TERMINAL_CODES.sub("", text)  # colours and cursor moves of console loggers are noise in a text log
    event_name = getattr(record, "event_name", None)
    if isinstance(event_name, str) and event_name:
        text = f"{event_name} · {text}"
    extras = {k: v for k, v in (record.attributes or {}).items() if k not in _QUIET_ATTRIBUTES}
    if extras:
        text += " " + " ".join(f"{key}={attribute_text(value)}" for key, value in extras.items())
    trace_id, span_id = record.trace_id or 0, record.span_id or 0
    if trace_id:
        text += f" · trace={trace_id:032x} span={span_id:016x}"
    return truncate(text, MAX_LINE_CHARS)  # its parts are clean: only the length is left to cap
