"""Which recording the data of each service goes to, with state bounded whatever senders send.

Without ``split_by_service`` there is one recording. With it, the first ``max_recordings`` services each get one:
``<stem>.rrd`` in the output directory (live destinations: the recording id ``<id>-<stem>``). The stem is the
service name itself when that is a safe lower-case file name, else its escaped form and a short hash of the
name, and no stem is used twice in a run (a clash gets ``-2``, ``-3``, ...): no two services ever write one file,
on case-insensitive file systems too. Further services share one overflow recording, ``+other-services.rrd``,
where they stay apart under their own ``<service>`` entity paths; they are counted, and the first is logged.
(Closing a recording and opening a new file for a service that comes back would leave that service in several
files; sharing keeps each in one.)
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import time
from pathlib import Path
from typing import Final

from worldforge_otel._fork import ForkSafeLock
from worldforge_otel.collector.backend import RerunBackend
from worldforge_otel.rerun.layout import path_part
from worldforge_otel.rerun.options import RerunOptions
from worldforge_otel.rerun.sinks import RerunSink

_LOG = logging.getLogger("worldforge_otel.collector")
DEFAULT_MAX_RECORDINGS: Final = 32  # a file recording runs ~5 threads and takes ~6 MB
OVERFLOW_STEM: Final = "+other-services"  # '+' never appears in a service's stem
HEALTH_STEM: Final = "+receiver"
MAX_COUNTED_SERVICES: Final = 100_000  # distinct overflowed services remembered for counting
_SAFE: Final = re.compile(r"[a-z0-9_][a-z0-9_.\-]{0,95}")


def file_stem(service: str) -> str:
    """The file name (without ``.rrd``) for ``service``: itself when safe, else escaped plus a hash of it."""
    if _SAFE.fullmatch(service) and not service.endswith("."):
        return service
    digest = hashlib.sha256(service.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{path_part(service).lower()[:64]}-{digest}"


class Recordings:
    """The recordings of one receiver: one, or one per service up to a cap plus an overflow one. Thread-safe.

    Args:
        options: Destinations; with ``split_by_service`` its ``save_path`` is the directory of the files.
        split_by_service: One recording per ``service.name``.
        max_recordings: Services with a recording of their own, at most (the overflow recording not counted).
    """

    def __init__(self, options: RerunOptions, *, split_by_service: bool, max_recordings: int) -> None:
        self.options = options
        self.split_by_service = split_by_service
        self.max_recordings = max(1, max_recordings)
        self._by_service: dict[str, RerunBackend] = {}
        self._stems: dict[str, str] = {}  # stem -> service
        self._overflow: RerunBackend | None = None
        self._overflowed: set[str] = set()
        self.overflowed_services = 0
        self._health: RerunSink | None = None
        self._lock = ForkSafeLock()
        self._closed = False

    def open_single(self) -> None:
        """Open the one recording now (without ``split_by_service``), before any data arrives."""
        if not self.split_by_service:
            self.for_service("")

    def for_service(self, service: str) -> RerunBackend | None:
        """The recording for ``service``'s data, opened on first use; None once :meth:`close` began."""
        key = service if self.split_by_service else ""
        backend = self._by_service.get(key)
        if backend is not None:
            return backend
        with self._lock:
            if self._closed:
                return None
            backend = self._by_service.get(key)
            if backend is None and (not self.split_by_service or len(self._by_service) < self.max_recordings):
                backend = self._by_service[key] = RerunBackend(self._options_for(key))
            if backend is not None:
                return backend
            return self._overflow_for(service)

    def _overflow_for(self, service: str) -> RerunBackend:
        if self._overflow is None:
            self._overflow = RerunBackend(self._options_with_stem(OVERFLOW_STEM))
            _LOG.warning(
                "worldforge_otel: more than %d services (--max-recordings); further ones share %s.rrd, each "
                "under its own service path", self.max_recordings, OVERFLOW_STEM,
            )  # fmt: skip
        if service not in self._overflowed and len(self._overflowed) < MAX_COUNTED_SERVICES:
            self._overflowed.add(service)
            self.overflowed_services += 1
        return self._overflow

    def _options_for(self, service: str) -> RerunOptions:
        if not self.split_by_service:
            return self.options
        stem = file_stem(service)
        unique, number = stem, 1
        while unique in self._stems or unique == OVERFLOW_STEM:
            number += 1
            unique = f"{stem}-{number}"
        self._stems[unique] = service
        return self._options_with_stem(unique)

    def _options_with_stem(self, stem: str) -> RerunOptions:
        save_path = Path(self.options.save_path) / f"{stem}.rrd" if self.options.save_path else None
        recording_id = f"{self.options.recording_id or 'worldforge-otel-receive'}-{stem}"
        return dataclasses.replace(self.options, save_path=save_path, recording_id=recording_id)

    def health_sink(self) -> RerunSink | None:
        """Where the receiver's own metrics go: the one recording, or a file of their own.

        With ``split_by_service`` that is ``+receiver.rrd`` (recording id ``<id>-+receiver``).
        """
        if not self.split_by_service:
            backend = self.for_service("")
            return backend.sink if backend is not None else None
        with self._lock:
            if self._health is None and not self._closed:
                self._health = RerunSink(self._options_with_stem(HEALTH_STEM))
            return self._health

    def opened(self) -> list[tuple[str, RerunBackend]]:
        """``(service, backend)`` of every recording opened, the overflow one last as ``(OVERFLOW_STEM, ...)``."""
        with self._lock:
            named = sorted(self._by_service.items())
            return named + ([(OVERFLOW_STEM, self._overflow)] if self._overflow is not None else [])

    def __len__(self) -> int:
        return len(self._by_service) + (self._overflow is not None)

    def close(self, timeout_secs: float) -> None:
        """Close every recording (footer written) within ``timeout_secs`` overall; later data is refused."""
        with self._lock:
            self._closed = True
        deadline = time.monotonic() + timeout_secs
        for _, backend in self.opened():
            backend.close(max(deadline - time.monotonic(), 0.5))
        if self._health is not None:
            self._health.close(max(deadline - time.monotonic(), 0.5))
