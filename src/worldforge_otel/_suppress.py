"""OTel's "suppress instrumentation" context key, named once for the whole package.

OTel's own exporters set it while they export, so what an export causes (an HTTP call, a log line) is not
recorded again. The handler and the logging bridge skip work under it; the Rerun exporters set it.
"""

from __future__ import annotations

from typing import Final

from opentelemetry import context as otel_context

SUPPRESS_KEY: Final = otel_context._SUPPRESS_INSTRUMENTATION_KEY  # private in opentelemetry-api; docs/development.md


def suppressed() -> bool:
    """Whether the current context asks that nothing be recorded (an exporter is at work on this thread)."""
    return bool(otel_context.get_value(SUPPRESS_KEY))
