"""``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`` done visibly: values are cut with a marker and a warning, not silently.

The SDK cuts over-long attribute values without a trace. The handler cuts them first, ending each with
``…[truncated N chars]`` inside the limit (so the SDK leaves it alone), and warns once per handler.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.sdk.trace import SpanLimits
from opentelemetry.trace import TracerProvider
from opentelemetry.util.types import AttributeValue

from worldforge_otel._fork import ForkSafeLock
from worldforge_otel.sanitize import TRUNCATION_MARKER

_LOG = logging.getLogger(__name__)


def attribute_length_limit(tracer_provider: TracerProvider) -> int | None:
    """The span attribute value length limit in force for ``tracer_provider`` (None: unlimited)."""
    limits: Any = getattr(tracer_provider, "_span_limits", None)  # the SDK provider's own limits
    if limits is None:
        limits = SpanLimits()  # reads OTEL_SPAN_/OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT
    limit = getattr(limits, "max_span_attribute_length", None)
    return limit if isinstance(limit, int) and limit >= 0 else None


def limiter_for(tracer_provider: TracerProvider) -> AttributeLimiter | None:
    """A limiter for the provider's attribute length limit, or None when values are unlimited."""
    limit = attribute_length_limit(tracer_provider)
    return AttributeLimiter(limit) if limit is not None else None


class AttributeLimiter:
    """Cuts string values (and strings in sequences) longer than ``limit``, marking each cut.

    Args:
        limit: Maximum characters per value.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._warned = False
        self._lock = ForkSafeLock()

    def apply(self, attributes: dict[str, AttributeValue]) -> None:
        """Cut over-long values of ``attributes`` in place."""
        limit = self.limit
        for key, value in attributes.items():
            if isinstance(value, str):
                if len(value) > limit:
                    attributes[key] = self._cut(key, value)
            elif isinstance(value, list | tuple) and any(isinstance(item, str) and len(item) > limit for item in value):
                attributes[key] = [self._cut(key, item) if isinstance(item, str) else item for item in value]

    def _cut(self, key: str, value: str) -> str:
        if len(value) <= self.limit:
            return value
        dropped = len(value) - self.limit
        marker = TRUNCATION_MARKER.format(dropped=dropped)
        # Keep the marker inside the limit; drop a little more text to make room for it.
        keep = max(0, self.limit - len(marker))
        cut = value[:keep] + marker if keep else value[: self.limit]
        if not self._warned:
            with self._lock:
                first, self._warned = not self._warned, True
            if first:
                _LOG.warning(
                    "worldforge_otel: the value of span attribute %s (%d chars) was cut to %d chars by "
                    "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT and marked %r; raise the limit to keep whole values "
                    "(this warning is shown once)",
                    key,
                    len(value),
                    self.limit,
                    TRUNCATION_MARKER,
                )
        return cut
