"""Python ``logging`` -> OTel logs (and so into the same Rerun recording and OTLP backend as the spans).

``configure(log_level="INFO")`` puts one OTel ``LoggingHandler`` on the root logger; records emitted inside
a span carry its trace and span ids. The calling thread only hands the record over: secrets in the message,
extras and exception text are redacted by the trust boundary (:mod:`worldforge_otel.boundary`) on the export
threads of the Rerun and OTLP exporters ``configure()`` attached, so they reach neither Rerun nor OTLP.
Records logged while an exporter runs (instrumentation suppressed) are left out, so an exporter's own error
messages never feed back into the exporters.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from worldforge_otel._suppress import suppressed


class _NotWhileExporting(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not suppressed()


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
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > handler.level > logging.NOTSET:
        _LOWERED[handler] = root.level  # given back by remove_logging_handler
        root.setLevel(handler.level)  # otherwise records below WARNING never reach the handler
    return handler


def remove_logging_handler(handler: logging.Handler) -> None:
    """Take the handler off the root logger again, and give the root logger back the level it had.

    Only if we lowered it, and nobody changed it since.
    """
    root = logging.getLogger()
    root.removeHandler(handler)
    before = _LOWERED.pop(handler, None)
    if before is not None and root.level == handler.level:
        root.setLevel(before)


_LOWERED: dict[logging.Handler, int] = {}  # handler -> the root logger's level before install_logging_handler
