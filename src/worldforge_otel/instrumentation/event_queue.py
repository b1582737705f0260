"""A bounded hand-off from the host's threads to one worker thread, so the host pays microseconds per event.

``put`` appends to a deque (no lock on the way in) and wakes the worker only when it may be asleep; when
the queue is full the item is dropped and counted exactly. The worker drains in batches. ``flush`` waits
(bounded) until everything put before it was processed. A fork waits for the batch in progress (so the
worker is never inside the OTel SDK at the fork); the child starts with an empty queue and its own worker (the
parent's items are the parent's).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from worldforge_otel import _fork
from worldforge_otel._atexit_once import register_once

_LOG = logging.getLogger(__name__)
DEFAULT_MAX_QUEUE_SIZE: Final = 8192
BATCH_SIZE: Final = 512
EVENT_WORKER_NAME: Final = "worldforge-otel-events"
_IDLE_WAKEUP_SECS: Final = 1.0


class EventQueue:
    """Runs ``process(batch)`` on a daemon worker for the items ``put`` from any thread.

    Args:
        process: Called on the worker with a list of items; must not raise (exceptions are logged).
        max_size: Items waiting at most; more are dropped and counted in :attr:`dropped`.
        name: Worker thread name.
    """

    def __init__(self, process: Callable[[list[Any]], None], *, max_size: int = DEFAULT_MAX_QUEUE_SIZE,
                 name: str = EVENT_WORKER_NAME) -> None:  # fmt: skip
        self._process = process
        self.max_size = max_size
        self._name = name
        self._reset()
        self._pause = _fork.pause_at_fork(self)
        _fork.reset_in_child(self, EventQueue._reset)
        _QUEUES.add(self)

    def _reset(self) -> None:
        self._items: deque[Any] = deque()
        self._wakeup = threading.Event()
        self._done = threading.Condition()
        self._in_flight = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._drop_lock = threading.Lock()
        self.dropped = 0

    def put(self, item: Any) -> bool:
        """Queue ``item``; False (and counted) when the queue is full or closed."""
        if self._closed or len(self._items) >= self.max_size:
            with self._drop_lock:
                self.dropped += 1
            return False
        self._items.append(item)
        if not self._wakeup.is_set():
            self._wakeup.set()
        if self._thread is None:
            self._start()
        return True

    def __len__(self) -> int:
        return len(self._items)

    def flush(self, timeout_secs: float) -> bool:
        """Wait until every item queued so far was processed; False if ``timeout_secs`` passed first."""
        deadline = time.monotonic() + max(timeout_secs, 0.0)
        self._wakeup.set()
        with self._done:
            while self._items or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None or not self._thread.is_alive():
                    return not (self._items or self._in_flight)
                self._done.wait(min(remaining, 0.05))
        return True

    def close(self, timeout_secs: float) -> bool:
        """Process what is queued (bounded by ``timeout_secs``), then stop the worker; idempotent."""
        flushed = self.flush(timeout_secs)
        self._closed = True
        self._wakeup.set()
        return flushed

    def _start(self) -> None:
        with self._drop_lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        _flush_at_exit_once()

    def _run(self) -> None:
        while not self._closed:
            self._wakeup.wait(_IDLE_WAKEUP_SECS)
            self._wakeup.clear()
            while self._items:
                batch: list[Any] = []
                with self._done:
                    while self._items and len(batch) < BATCH_SIZE:
                        batch.append(self._items.popleft())
                    self._in_flight = len(batch)
                try:
                    with self._pause:
                        self._process(batch)
                except Exception:
                    _LOG.exception("worldforge_otel: processing queued events failed")
                with self._done:
                    self._in_flight = 0
                    self._done.notify_all()


_QUEUES: weakref.WeakSet[EventQueue] = weakref.WeakSet()
EXIT_FLUSH_SECS: Final = 5.0


def _flush_at_exit_once() -> None:
    """Flush every queue at exit, before the providers' own exit-time shutdown (registered at the first event)."""
    register_once("event-queues", _flush_all, EXIT_FLUSH_SECS, order=10)


def _flush_all(timeout_secs: float) -> None:
    deadline = time.monotonic() + timeout_secs
    for queue in list(_QUEUES):
        queue.flush(max(0.0, deadline - time.monotonic()))
