"""Python ``logging`` -> OTel logs (and so into the same Rerun recording and OTLP backend as the spans).

``configure(log_level="INFO")`` puts one OTel ``LoggingHandler`` on the root logger; records emitted inside
a span carry its trace and span ids. Secrets are redacted from the copy the handler sends (message, extras
and exception text), so they reach neither Rerun nor OTLP; other handlers see the record unchanged.
Records logged while an exporter runs (instrumentation suppressed) are left out, so an exporter's own error
messages never feed back into the exporters.
"""

from __future__ import annotations

import copy
import logging
import warnings
from typing import Any

from opentelemetry import context as otel_context

from worldforge_otel.sanitize import REDACTED, is_secret_key, redact_text, sanitize_value

_SUPPRESS_KEY = otel_context._SUPPRESS_INSTRUMENTATION_KEY


class _NotWhileExporting(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not otel_context.get_value(_SUPPRESS_KEY)


def _sanitized(record: logging.LogRecord) -> logging.LogRecord:
    """A copy with secrets redacted from the message and secret-named extras (other handlers keep the original)."""
    clean = copy.copy(record)
    clean.msg = redact_text(record.getMessage())
    clean.args = None
    for key, value in vars(record).items():
        if key not in _STANDARD_ATTRIBUTES:
            setattr(clean, key, REDACTED if is_secret_key(key) else sanitize_value(value, max_chars=1024))
    if record.exc_info and record.exc_info[1] is not None:
        clean.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
    return clean


_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({})))


def install_logging_handler(logger_provider: Any, level: int | str) -> logging.Handler:
    """Add an OTel ``LoggingHandler`` for ``logger_provider`` to the root logger; returns it (for removal)."""
    try:  # its home since opentelemetry-instrumentation-logging 0.60b0
        from opentelemetry.instrumentation.logging.handler import (  # type: ignore[import-not-found,unused-ignore]
            LoggingHandler,
        )
    except ImportError:
        from opentelemetry.sdk._logs import LoggingHandler  # type: ignore[assignment,no-redef]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the SDK's copy is deprecated, not broken
        handler: logging.Handler = LoggingHandler(level=logging.NOTSET, logger_provider=logger_provider)
    handler.setLevel(level)
    handler.addFilter(_NotWhileExporting())
    emit = handler.emit
    handler.emit = lambda record: emit(_sanitized(record))  # type: ignore[method-assign]
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > handler.level > logging.NOTSET:
        root.setLevel(handler.level)  # otherwise records below WARNING never reach the handler
    return handler


def remove_logging_handler(handler: logging.Handler) -> None:
    """Take the handler off the root logger again."""
    logging.getLogger().removeHandler(handler)
