"""Decoded OTLP -> the Rerun span, metric and log exporters, through a bounded queue and one writer thread.

Receivers call :meth:`Pipeline.submit` and answer at once; a full queue makes ``submit`` return False, which
receivers answer with "retry later" (gRPC UNAVAILABLE, HTTP 503), so a Collector's retry queue absorbs the
burst and nothing is silently dropped. One writer thread translates batches in arrival order into one Rerun
recording (every service in it, told apart by the ``<service>`` segment of the ``otel/*`` paths) or, with
``split_by_service``, one recording per ``service.name``. :meth:`Pipeline.shutdown` drains the queue, then
flushes and closes every recording.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExportResult
from opentelemetry.sdk.trace.export import SpanExportResult

from worldforge_otel.collector.decode import count_items
from worldforge_otel.rerun.layout import path_part
from worldforge_otel.rerun.log_exporter import RerunLogExporter
from worldforge_otel.rerun.metric_exporter import RerunMetricExporter
from worldforge_otel.rerun.options import RerunOptions
from worldforge_otel.rerun.sinks import RerunSink
from worldforge_otel.rerun.span_exporter import RerunSpanExporter

_LOG = logging.getLogger("worldforge_otel.collector")
DEFAULT_MAX_BATCHES: Final = 1024
DEFAULT_MAX_QUEUED_BYTES: Final = 64 * 1024 * 1024  # of request bodies; the decoded objects take a few times more
MAX_ITEMS_PER_WRITE: Final = 16_384  # spans, points or records written in one export at most (when queued)
_STOP: Final = object()


class RerunBackend:
    """One Rerun recording and the three exporters writing into it."""

    def __init__(self, options: RerunOptions) -> None:
        self.sink = RerunSink(options)
        self.spans = RerunSpanExporter(sink=self.sink)
        self.metrics = RerunMetricExporter(sink=self.sink)
        self.logs = RerunLogExporter(sink=self.sink)

    def write(self, signal: str, items: Sequence[Any]) -> bool:
        """Export ``items`` of ``signal`` (``traces``, ``metrics`` or ``logs``); False when the exporter failed."""
        if signal == "traces":
            return self.spans.export(items) is SpanExportResult.SUCCESS
        if signal == "metrics":
            return all(self.metrics.export(item) is MetricExportResult.SUCCESS for item in items)
        return self.logs.export(items) is LogRecordExportResult.SUCCESS

    def close(self, timeout_secs: float) -> bool:
        """Shut the exporters down, then flush and close the recording within ``timeout_secs``."""
        for exporter in (self.spans, self.metrics, self.logs):
            exporter.shutdown()
        return self.sink.close(timeout_secs=timeout_secs)


class Pipeline:
    """A bounded queue of decoded batches and the thread that writes them to Rerun.

    Args:
        options: Where the recording goes (as for the in-process exporters).
        split_by_service: One recording per ``service.name``: ``options.save_path`` is then a directory
            holding ``<service>.rrd`` files, and live destinations get one recording id per service.
        max_batches: Queue bound, in requests; a full queue refuses new ones (``submit`` returns False).
        max_queued_bytes: Queue bound, in request-body bytes (one request is always taken when the queue is empty).
    """

    def __init__(
        self,
        options: RerunOptions,
        *,
        split_by_service: bool = False,
        max_batches: int = DEFAULT_MAX_BATCHES,
        max_queued_bytes: int = DEFAULT_MAX_QUEUED_BYTES,
    ) -> None:
        self.options = options
        self.max_queued_bytes = max_queued_bytes
        self._queued_bytes = 0
        self.split_by_service = split_by_service
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_batches)
        self._backends: dict[str, RerunBackend] = {}
        self._lock = threading.Lock()
        self.received: Counter[str] = Counter()  # items accepted into the queue, per signal
        self.written: Counter[str] = Counter()  # items the exporters wrote, per signal
        self.refused: Counter[str] = Counter()  # items refused because the queue was full
        self.failed: Counter[str] = Counter()  # items an exporter failed to write
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="worldforge-otel-receive", daemon=True)
        self._worker.start()

    def submit(self, signal: str, by_service: dict[str, list[Any]], *, size_bytes: int = 0) -> bool:
        """Queue a decoded request of ``size_bytes``; False (nothing queued) when full or closed."""
        if not by_service:
            return True
        count = sum(count_items(items) for items in by_service.values())
        with self._lock:
            over = self._queued_bytes and self._queued_bytes + size_bytes > self.max_queued_bytes
            if self._closed or over:
                self.refused[signal] += count
                return False
            try:
                self._queue.put_nowait((signal, by_service, count, size_bytes))
            except queue.Full:
                self.refused[signal] += count
                return False
            self._queued_bytes += size_bytes
            self.received[signal] += count
        return True

    def open_recording(self) -> None:
        """Open the one recording now, before receivers start, so the first request does not wait for it.

        (Importing rerun-sdk and opening the destination takes about a second.) With ``split_by_service``,
        recordings are opened as services appear.
        """
        if not self.split_by_service:
            self._backend("all")

    def destinations(self) -> list[tuple[str, RerunSink]]:
        """``(service or "all", sink)`` of every recording opened so far."""
        return [(name, backend.sink) for name, backend in sorted(self._backends.items())]

    def join(self) -> None:
        """Wait until every queued batch is written."""
        self._queue.join()

    def shutdown(self, timeout_secs: float = 10.0) -> None:
        """Refuse new batches, write the queued ones, then flush and close every recording; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(_STOP)
        self._worker.join(timeout=max(timeout_secs, 0.1) * 6)
        deadline = time.monotonic() + timeout_secs
        for backend in self._backends.values():
            backend.close(max(deadline - time.monotonic(), 0.5))

    def _run(self) -> None:
        stopping = False
        while not stopping:
            requests, taken, stopping = self._take()
            try:
                self._write_all(requests)
            except Exception:  # a writer bug must not stop the receiver; counted, logged once per batch
                _LOG.exception("worldforge_otel: could not write received batches to Rerun")
            finally:
                with self._lock:
                    self._queued_bytes -= sum(size_bytes for _, _, _, size_bytes in requests)
                for _ in range(taken):
                    self._queue.task_done()

    def _take(self) -> tuple[list[tuple[str, dict[str, list[Any]], int, int]], int, bool]:
        """The next request and, under load, those queued behind it: ``(requests, items taken, stop seen)``.

        A few large writes cost far less than many small ones (each entity path of a write is one chunk), and
        while idle the first request is written at once.
        """
        requests: list[tuple[str, dict[str, list[Any]], int, int]] = []
        item, taken, total = self._queue.get(), 1, 0
        while item is not _STOP:
            requests.append(item)
            total += item[2]
            if total >= MAX_ITEMS_PER_WRITE:
                break
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            taken += 1
        return requests, taken, item is _STOP

    def _write_all(self, requests: list[tuple[str, dict[str, list[Any]], int, int]]) -> None:
        """Write ``requests`` as one export per signal (and service, when split)."""
        merged: dict[tuple[str, str], list[Any]] = {}
        for signal, by_service, _, _ in requests:
            for service, items in by_service.items():
                merged.setdefault((signal, service if self.split_by_service else "all"), []).extend(items)
        for (signal, name), items in merged.items():
            ok = self._backend(name).write(signal, items)
            (self.written if ok else self.failed)[signal] += count_items(items)

    def _backend(self, name: str) -> RerunBackend:
        backend = self._backends.get(name)
        if backend is None:
            backend = self._backends[name] = RerunBackend(self._options_for(name))
        return backend

    def _options_for(self, name: str) -> RerunOptions:
        if not self.split_by_service:
            return self.options
        part = path_part(name)
        save_path = Path(self.options.save_path) / f"{part}.rrd" if self.options.save_path else None
        recording_id = f"{self.options.recording_id or 'worldforge-otel-receive'}-{part}"
        return dataclasses.replace(self.options, save_path=save_path, recording_id=recording_id)
