"""The WorldForge ``ProviderEvent`` shape, accepted structurally, and its sanitized record.

``worldforge-ai`` needs Python >= 3.13, so this package never imports it: any object with the
``ProviderEvent`` fields (or a mapping with those keys) is accepted. Missing or malformed fields get
defaults instead of errors, because an observability hook must never fail the call it observes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol, runtime_checkable

from worldforge_otel import semconv
from worldforge_otel.sanitize import (
    DEFAULT_MAX_STRING_CHARS,
    JSONValue,
    clean_text,
    sanitize_url,
    sanitize_value,
)

PHASES: Final = frozenset({"success", "failure", "retry"})

EVENT_ATTRIBUTES: Final[Mapping[str, str]] = {
    "provider": semconv.PROVIDER,
    "operation": semconv.OPERATION,
    "phase": semconv.PHASE,
    "attempt": semconv.ATTEMPT,
    "max_attempts": semconv.MAX_ATTEMPTS,
    "method": semconv.HTTP_REQUEST_METHOD,
    "target": semconv.TARGET,  # or url.full when it is a URL (see instrumentation.span_attributes)
    "status_code": semconv.HTTP_RESPONSE_STATUS_CODE,
    "duration_ms": semconv.DURATION_MS,
    "message": semconv.MESSAGE,
    "metadata": semconv.METADATA_PREFIX,  # flattened: worldforge.metadata.<key>[.<key>...]
}
"""The ProviderEvent fields, in order, and the span attribute each becomes: the one list of them."""
EVENT_FIELDS: Final = tuple(EVENT_ATTRIBUTES)
UNKNOWN: Final = "unknown"
MAX_MESSAGE_CHARS: Final = 8192
MAX_NAME_CHARS: Final = 128


@runtime_checkable
class ProviderEventLike(Protocol):
    """What this package reads from a WorldForge ``ProviderEvent`` (all fields, read-only)."""

    @property
    def provider(self) -> str: ...  # noqa: D102
    @property
    def operation(self) -> str: ...  # noqa: D102
    @property
    def phase(self) -> str: ...  # noqa: D102
    @property
    def attempt(self) -> int: ...  # noqa: D102
    @property
    def max_attempts(self) -> int: ...  # noqa: D102
    @property
    def method(self) -> str | None: ...  # noqa: D102
    @property
    def target(self) -> str | None: ...  # noqa: D102
    @property
    def status_code(self) -> int | None: ...  # noqa: D102
    @property
    def duration_ms(self) -> float | None: ...  # noqa: D102
    @property
    def message(self) -> str: ...  # noqa: D102
    @property
    def metadata(self) -> Mapping[str, object]: ...  # noqa: D102


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A sanitized, fully-typed copy of one ProviderEvent; the only form the rest of the package sees."""

    provider: str
    operation: str
    phase: str
    attempt: int = 1
    max_attempts: int = 1
    method: str | None = None
    target: str | None = None
    status_code: int | None = None
    duration_ms: float | None = None
    message: str = ""
    metadata: dict[str, JSONValue] = field(default_factory=dict)

    @classmethod
    def from_event(cls, event: object) -> EventRecord:
        """Read ``event`` (a ProviderEvent, a look-alike object or a mapping) into a sanitized record."""
        fields = event if type(event) is dict else snapshot(event)  # the handler's snapshot is already a dict
        get = fields.get
        attempt = _positive_int(get("attempt", 1), default=1)
        raw_metadata = get("metadata", None)
        metadata = sanitize_value(raw_metadata) if raw_metadata else {}
        target = get("target", None)
        method = get("method", None)
        return cls(
            provider=_name(get("provider", None)),
            operation=_name(get("operation", None)),
            phase=_name(get("phase", None)).lower(),
            attempt=attempt,
            max_attempts=max(attempt, _positive_int(get("max_attempts", 1), default=1)),
            method=clean_text(str(method), max_chars=16).upper() if method else None,
            target=clean_text(sanitize_url(str(target)), max_chars=DEFAULT_MAX_STRING_CHARS) if target else None,
            status_code=_status_code(get("status_code", None)),
            duration_ms=_duration_ms(get("duration_ms", None)),
            message=clean_text(str(get("message", "") or ""), max_chars=MAX_MESSAGE_CHARS),
            metadata=metadata if isinstance(metadata, dict) else {"value": metadata},
        )


def _name(value: object) -> str:
    if type(value) is str:  # names repeat (a host's providers and operations): cleaned once each
        known = _NAMES.get(value)
        if known is None:
            if len(_NAMES) >= _MAX_NAMES:
                _NAMES.clear()
            known = _NAMES[value] = clean_text(value.strip(), max_chars=MAX_NAME_CHARS) or UNKNOWN
        return known
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", "replace")
    text = clean_text(str(value).strip(), max_chars=MAX_NAME_CHARS) if value is not None else ""
    return text or UNKNOWN


_NAMES: dict[str, str] = {}
_MAX_NAMES: Final = 4096


def _positive_int(value: object, *, default: int) -> int:
    if isinstance(value, bool):
        return default
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return default
    return number if number >= 1 else default


def _status_code(value: object) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        code = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return None
    return code if 100 <= code <= 599 else None


def _duration_ms(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        duration = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(duration) or duration < 0.0:
        return None
    return duration


def snapshot(event: object) -> dict[str, object]:
    """A cheap copy of ``event``'s fields (metadata copied one level deep), safe to read on another thread."""
    copy = dict(event) if isinstance(event, Mapping) else {name: getattr(event, name, None) for name in EVENT_FIELDS}
    metadata = copy.get("metadata")
    if isinstance(metadata, Mapping):
        copy["metadata"] = dict(metadata)
    return copy
