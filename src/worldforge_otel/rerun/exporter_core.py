"""What the span, metric and log exporters share: sink ownership, shutdown, health counters, suppression."""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable

from opentelemetry import context as otel_context

from worldforge_otel import _env
from worldforge_otel._fork import ForkSafeLock
from worldforge_otel._suppress import SUPPRESS_KEY
from worldforge_otel._throttled_log import ThrottledLog
from worldforge_otel.rerun.columns import ColumnBatch
from worldforge_otel.rerun.layout import exporter_health_paths
from worldforge_otel.rerun.options import RerunOptions
from worldforge_otel.rerun.sinks import RerunSink, shared_sink

_LOG = logging.getLogger(__name__)


class CoreBackedExporter:
    """What every Rerun exporter exposes about its :class:`ExportCore`."""

    _core: ExportCore

    @property
    def sink(self) -> RerunSink:
        """The sink this exporter writes to."""
        return self._core.sink

    @property
    def is_shut_down(self) -> bool:
        """Whether ``shutdown()`` was called."""
        return self._core.is_shut_down


class ExportCore:
    """Runs one export: translate items into a batch, add health scalars, write; never raises.

    Args:
        signal: ``spans``, ``metrics`` or ``logs``: names the health scalars.
        sink: A sink the caller owns; when omitted, the process-wide sink for ``options`` is used.
        options: Destinations for the shared sink.
    """

    def __init__(self, signal: str, *, sink: RerunSink | None, options: RerunOptions | None) -> None:
        if sink is not None and options is not None:
            raise ValueError("pass either sink= or options=, not both (a sink already has its options)")
        self.signal = signal
        self._health_paths = exporter_health_paths(signal)
        self._owns_sink = sink is None
        if sink is None and _env.sdk_disabled():
            _LOG.info("worldforge_otel: OTEL_SDK_DISABLED=true, so the Rerun %s exporter records nothing", signal)
            sink = RerunSink(options, connect=False)
        self.sink = sink if sink is not None else shared_sink(options)
        self._lock = ForkSafeLock()
        self._shutdown = False
        self._errors = ThrottledLog(_LOG)
        self.exported = 0
        self.dropped = 0
        self.in_flight = 0  # items of the batch being translated and written now (batches come one at a time)
        _CORES.add(self)

    def export(self, count: int, translate: Callable[[ColumnBatch], int]) -> bool:
        """Translate ``count`` items with ``translate`` (which returns how many it skipped) and write them."""
        if self._shutdown:
            with self._lock:
                self.dropped += count
            _LOG.warning("worldforge_otel: Rerun %s exporter already shut down, ignoring the batch", self.signal)
            return False
        if not self.sink.accepting:  # closed (at exit, its flush out of time): counted, not translated for nothing
            with self._lock:
                self.dropped += count
            return False
        token = otel_context.attach(otel_context.set_value(SUPPRESS_KEY, True))
        started = time.perf_counter()
        self.in_flight += count
        try:
            batch = ColumnBatch()
            skipped = translate(batch)
            written = self.sink.write(batch)
        except Exception:
            self._errors.error("worldforge_otel: Rerun %s export failed", self.signal)
            skipped, written = count, False
        finally:
            self.in_flight -= count
            otel_context.detach(token)
        with self._lock:
            if written:
                self.exported += count - skipped
                self.dropped += skipped
            else:
                self.dropped += count
            exported, dropped = self.exported, self.dropped
        self._write_health(exported, dropped, (time.perf_counter() - started) * 1000.0)
        return written and skipped == 0

    def _write_health(self, exported: int, dropped: int, latency_ms: float) -> None:
        if not self.sink.enabled:
            return
        now = time.time_ns()
        health = ColumnBatch()
        exported_path, dropped_path, duration_path = self._health_paths
        health.scalar(exported_path, exported, time_ns=now)
        health.scalar(dropped_path, dropped, time_ns=now)
        health.scalar(duration_path, latency_ms / 1000.0, time_ns=now)
        self.sink.write(health)

    @property
    def is_shut_down(self) -> bool:
        """Whether ``shutdown()`` was called."""
        return self._shutdown

    def force_flush(self, timeout_millis: float) -> bool:
        """Flush the sink within the timeout."""
        if self._shutdown:
            return False
        return self.sink.flush(min(timeout_millis / 1000.0, self.sink.options.timeout_secs))

    def shutdown(self, timeout_millis: float | None = None) -> None:
        """Stop accepting batches; release (or leave) the sink. Idempotent."""
        with self._lock:
            if self._shutdown:
                _LOG.debug("worldforge_otel: Rerun %s exporter shutdown called twice; ignoring", self.signal)
                return
            self._shutdown = True
        # The SDK passes its own generous timeouts (30 s); the recording's deadline is the options' (5 s default).
        timeout_secs = self.sink.options.timeout_secs
        if timeout_millis is not None:
            timeout_secs = min(timeout_secs, timeout_millis / 1000.0)
        if self._owns_sink:
            self.sink.release(timeout_secs)
        else:
            self.sink.flush(timeout_secs)


_CORES: weakref.WeakSet[ExportCore] = weakref.WeakSet()


def items_in_flight() -> int:
    """Items every Rerun exporter of the process is translating or writing at this moment."""
    return sum(core.in_flight for core in list(_CORES))
