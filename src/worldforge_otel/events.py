"""The WorldForge ``ProviderEvent`` shape, accepted structurally, and its sanitized record.

``worldforge-ai`` needs Python >= 3.13, so this package never imports it: any object with the
``ProviderEvent`` fields (or a mapping with those keys) is accepted. Missing or malformed fields get
defaults instead of errors, because an observability hook must never fail the call it observes.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol, TypeAlias, runtime_checkable

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
Snapshot: TypeAlias = tuple[object, ...]
"""An event's field values in :data:`EVENT_FIELDS` order, as :func:`snapshot` copies them."""
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
        return cls.from_snapshot(snapshot(event))

    @classmethod
    def from_snapshot(cls, values: Snapshot) -> EventRecord:
        """The sanitized record of an event's :func:`snapshot` (the handler takes it on the calling thread)."""
        (provider, operation, phase, attempt_value, max_attempts, method, target, status_code, duration_ms, message,
         raw_metadata) = values  # EVENT_FIELDS' order, which is also this class's field order (tests check both)
        attempt = _positive_int(attempt_value, default=1)
        metadata = sanitize_value(raw_metadata) if raw_metadata else {}
        return cls(
            provider=_name(provider),
            operation=_name(operation),
            phase=_name(phase).lower(),
            attempt=attempt,
            max_attempts=max(attempt, _positive_int(max_attempts, default=1)),
            method=clean_text(str(method), max_chars=16).upper() if method else None,
            target=clean_text(sanitize_url(str(target)), max_chars=DEFAULT_MAX_STRING_CHARS) if target else None,
            status_code=_status_code(status_code),
            duration_ms=_duration_ms(duration_ms),
            message=clean_text(str(message or ""), max_chars=MAX_MESSAGE_CHARS),
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


def snapshot(event: object) -> Snapshot:
    """A cheap copy of ``event``'s field values (metadata copied one level deep), safe to read on another thread.

    A tuple in :data:`EVENT_FIELDS` order; a field the event lacks is None. One ``attrgetter`` call reads a
    ProviderEvent's fields in C: this runs on the host's thread for every event.
    """
    if isinstance(event, Mapping):
        values: Snapshot = tuple(map(event.get, EVENT_FIELDS))
    else:
        try:
            values = _READ_FIELDS(event)
        except AttributeError:  # a look-alike without some of the fields
            values = tuple(getattr(event, name, None) for name in EVENT_FIELDS)
    metadata = values[_METADATA]
    if isinstance(metadata, Mapping) and metadata:
        return (*values[:_METADATA], dict(metadata), *values[_METADATA + 1 :])
    return values


_READ_FIELDS: Final = operator.attrgetter(*EVENT_FIELDS)
_METADATA: Final = EVENT_FIELDS.index("metadata")
