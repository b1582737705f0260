"""Bounded entity paths: names a sender chooses (span names, metric attribute sets) cannot grow them forever.

Each :class:`NameBudget` keeps the first ``limit`` distinct names per scope (a service, a metric) on paths of
their own; later names share :data:`OVERFLOW` (``_other``), where the full name stays in the row's text. Every
name sent to the overflow path is counted, and the first overflow of a budget is logged once. Measured on
main before this existed: 5,000 distinct span names (``GET /nope/<n>``) made 10,039 entity paths, a 20.9 MB
recording and an 8.6x slower export; 40,000 made the recording unreadable ("TooManyTables").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

from worldforge_otel._fork import ForkSafeLock
from worldforge_otel.rerun.columns import ColumnBatch
from worldforge_otel.rerun.layout import self_path

_LOG = logging.getLogger(__name__)

OVERFLOW: Final = "_other"
DEFAULT_MAX_SPAN_NAMES: Final = 256  # per service
DEFAULT_MAX_METRIC_SERIES: Final = 256  # per metric
DEFAULT_MAX_ATTRIBUTE_NAMES: Final = 128  # span attribute names per span entity (each is a component of it)
MAX_PLAIN_TRACES: Final = 256  # waterfalls of traces without a WorldForge span or an error: a sample of their shape
MAX_TRACES: Final = 4096  # waterfalls of traces with a WorldForge span or an error
NEW_TRACES_BURST: Final = 256  # waterfalls started at once, then ...
NEW_TRACES_PER_SEC: Final = 20.0  # ... this many new ones per second (a waterfall costs ~0.8 ms of CPU to draw)
MAX_SCOPES: Final = 4096  # services or metrics remembered; past it every new name of a new scope overflows


_HINT: Final = " High-cardinality names (ids in span names or metric attributes) belong in attributes."


class NameBudget:
    """The first ``limit`` distinct names of each scope pass; the rest become :data:`OVERFLOW`. Thread-safe.

    Args:
        what: What the names are, for the log line (``span names``, ``metric series``).
        limit: Distinct names kept per scope.
    """

    def __init__(
        self, what: str, limit: int, *, counter: str | None = None, hint: str = _HINT, overflow_does: str | None = None
    ) -> None:
        self.what = what
        self.limit = limit
        self.counter = counter or f"{what.replace(' ', '_')}_overflowed"
        self.hint = hint
        self.overflow_does = overflow_does or f"share the {OVERFLOW!r} entity path"  # said in the log line
        self.overflowed = 0
        self._names: dict[str, set[str]] = {}
        self._lock = ForkSafeLock()

    def known(self, scope: str) -> set[str] | frozenset[str]:
        """The names ``scope`` already has paths for (read-only; for a fast check before :meth:`admit`)."""
        return self._names.get(scope) or frozenset()

    def admit(self, scope: str, name: str) -> str:
        """``name`` if it has (or gets) a path of its own in ``scope``, else :data:`OVERFLOW`."""
        names = self._names.get(scope)
        if names is not None and name in names:  # the common case, without the lock
            return name
        with self._lock:
            names = self._names.get(scope)
            if names is None and len(self._names) < MAX_SCOPES:
                names = self._names[scope] = set()
            if names is not None and len(names) < self.limit:
                names.add(name)
                return name
            self.overflowed += 1
            first = self.overflowed == 1
        if first:
            _LOG.warning(
                "worldforge_otel: more than %d distinct %s in %r; further ones %s (counted in otel/_self/%s).%s",
                self.limit, self.what, scope, self.overflow_does, self.counter, self.hint,
            )  # fmt: skip
        return OVERFLOW


def add_overflow_count(batch: ColumnBatch, counter: str, count: int) -> None:
    """Write ``otel/_self/<counter>`` (what a budget turned away so far) into ``batch``, once there is any."""
    if count:
        batch.scalar(self_path(counter), count, time_ns=time.time_ns())


class RateBudget:
    """A token bucket: ``burst`` admissions at once, then ``per_sec`` a second; refusals are counted. Thread-safe.

    Args:
        burst: Admissions available at the start (and the most ever saved up).
        per_sec: Admissions regained per second.
        clock: Seconds, monotonic (injectable for tests).
    """

    def __init__(self, burst: int, per_sec: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.per_sec = per_sec
        self.refused = 0
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = ForkSafeLock()

    def admit(self) -> bool:
        """Whether one more may pass now (False is counted in :attr:`refused`)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.per_sec)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            self.refused += 1
            return False
