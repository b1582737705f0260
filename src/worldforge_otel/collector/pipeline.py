"""Decoded OTLP -> the Rerun span, metric and log exporters, through a bounded queue and one writer thread.

Receivers call :meth:`Pipeline.submit` and answer at once; a full queue makes ``submit`` return False, which
receivers answer with "retry later" (gRPC UNAVAILABLE, HTTP 503), so a Collector's retry queue absorbs the
burst and nothing is silently dropped. One writer thread translates batches in arrival order into one Rerun
recording (every service in it, told apart by the ``<service>`` segment of the ``otel/*`` paths) or, with
``split_by_service``, one recording per ``service.name`` up to a cap (:mod:`.recordings`).
:meth:`Pipeline.shutdown` drains the queue, then flushes and closes every recording.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from worldforge_otel._fork import ForkSafeLock
from worldforge_otel.collector.backend import RerunBackend
from worldforge_otel.collector.decode import count_items
from worldforge_otel.collector.recordings import DEFAULT_MAX_RECORDINGS, Recordings
from worldforge_otel.rerun.options import RerunOptions
from worldforge_otel.rerun.sinks import RerunSink

_LOG = logging.getLogger("worldforge_otel.collector")
DEFAULT_MAX_BATCHES: Final = 1024
DEFAULT_MAX_QUEUED_BYTES: Final = 64 * 1024 * 1024  # of request bodies
DEFAULT_MAX_QUEUED_ITEMS: Final = 200_000  # decoded spans, points and records: ~240 MB of spans at most
MAX_ITEMS_PER_WRITE: Final = 16_384  # spans, points or records written in one export at most (when queued)
_STOP: Final = object()


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """Requests, decoded items and request-body bytes waiting for the writer."""

    requests: int
    items: int
    bytes: int


class Pipeline:
    """A bounded queue of decoded batches and the thread that writes them to Rerun.

    Args:
        options: Where the recording goes (as for the in-process exporters).
        split_by_service: One recording per ``service.name``: ``options.save_path`` is then a directory
            holding ``<service>.rrd`` files, and live destinations get one recording id per service.
        max_batches: Queue bound, in requests; a full queue refuses new ones (``submit`` returns False).
        max_queued_bytes: Queue bound, in request-body bytes (one request is always taken when the queue is empty).
        max_queued_items: Queue bound, in decoded spans, points and records (what takes the memory: about
            1.2 kB per span of 10 attributes, three times its protobuf bytes).
        max_recordings: With ``split_by_service``, services with a recording of their own; further ones share
            one (see :mod:`.recordings`).
    """

    def __init__(
        self,
        options: RerunOptions,
        *,
        split_by_service: bool = False,
        max_batches: int = DEFAULT_MAX_BATCHES,
        max_queued_bytes: int = DEFAULT_MAX_QUEUED_BYTES,
        max_recordings: int = DEFAULT_MAX_RECORDINGS,
        max_queued_items: int = DEFAULT_MAX_QUEUED_ITEMS,
    ) -> None:
        self.options = options
        self.max_queued_bytes = max_queued_bytes
        self.max_queued_items = max_queued_items
        self._queued_bytes = 0
        self._queued_items = 0
        self.split_by_service = split_by_service
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_batches)
        self.recordings = Recordings(options, split_by_service=split_by_service, max_recordings=max_recordings)
        self._lock = ForkSafeLock()
        self.received: Counter[str] = Counter()  # items accepted into the queue, per signal
        self.written: Counter[str] = Counter()  # items the exporters wrote, per signal
        self.refused: Counter[str] = Counter()  # items refused because the queue was full
        self.failed: Counter[str] = Counter()  # items an exporter failed to write
        self.rejected: Counter[str] = Counter()  # invalid items inside accepted requests (partial success)
        self.malformed: Counter[str] = Counter()  # requests that were not OTLP at all
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="worldforge-otel-receive", daemon=True)
        self._worker.start()

    def submit(self, signal: str, by_service: dict[str, list[Any]], *, size_bytes: int = 0) -> bool:
        """Queue a decoded request of ``size_bytes``; False (nothing queued) when full or closed."""
        if not by_service:
            return True
        count = sum(count_items(items) for items in by_service.values())
        with self._lock:
            over = (self._queued_bytes and self._queued_bytes + size_bytes > self.max_queued_bytes) or (
                self._queued_items and self._queued_items + count > self.max_queued_items)
            if self._closed or over:
                self.refused[signal] += count
                return False
            try:
                self._queue.put_nowait((signal, by_service, count, size_bytes))
            except queue.Full:
                self.refused[signal] += count
                return False
            self._queued_bytes += size_bytes
            self._queued_items += count
            self.received[signal] += count
        return True

    def queue_depth(self) -> QueueDepth:
        """What waits for the writer now."""
        with self._lock:
            return QueueDepth(self._queue.qsize(), self._queued_items, self._queued_bytes)

    def open_recording(self) -> None:
        """Open the one recording now, before receivers start, so the first request does not wait for it.

        (Importing rerun-sdk and opening the destination takes about a second.) With ``split_by_service``,
        recordings are opened as services appear.
        """
        self.recordings.open_single()

    def destinations(self) -> list[tuple[str, RerunSink]]:
        """``(service, sink)`` of every recording opened so far (service ``""`` without ``split_by_service``)."""
        return [(name, backend.sink) for name, backend in self.recordings.opened()]

    def join(self) -> None:
        """Wait until every queued batch is written."""
        self._queue.join()

    def shutdown(self, timeout_secs: float = 10.0, *, before_close: Callable[[], object] | None = None) -> None:
        """Refuse new batches, write the queued ones, then flush and close every recording; idempotent.

        ``before_close`` runs once everything queued was written, while the recordings are still open.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(_STOP)
        self._worker.join(timeout=max(timeout_secs, 0.1) * 6)
        if before_close is not None:
            before_close()
        self.recordings.close(timeout_secs)  # what the writer has not written by now is counted as failed

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
                    self._queued_items -= sum(count for _, _, count, _ in requests)
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
        merged: dict[tuple[str, int], tuple[RerunBackend | None, list[Any]]] = {}
        for signal, by_service, _, _ in requests:
            for service, items in by_service.items():
                backend = self.recordings.for_service(service)
                merged.setdefault((signal, id(backend)), (backend, []))[1].extend(items)
        for (signal, _), (backend, items) in merged.items():
            ok = backend is not None and backend.write(signal, items)
            (self.written if ok else self.failed)[signal] += count_items(items)
