"""Bounded waits: run work on a helper thread and wait for it at most until a deadline."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

_LOG = logging.getLogger(__name__)


def within(timeout_millis: float, work: Callable[[Callable[[], int]], bool], what: str) -> bool:
    """``work(remaining_millis)`` on a helper thread, waited for at most ``timeout_millis``; False if it did not end.

    ``work`` gets a function returning the milliseconds left, to hand on to the calls it makes. What does not end in
    time goes on in the background (a daemon thread): the caller is never held past the deadline.
    """
    deadline = time.monotonic() + max(timeout_millis, 0) / 1000.0

    def remaining() -> int:
        return max(0, int((deadline - time.monotonic()) * 1000))

    outcome: list[bool] = []

    def run() -> None:
        try:
            outcome.append(work(remaining))
        except Exception:
            _LOG.warning("worldforge_otel: %s failed", what, exc_info=True)
            outcome.append(False)

    helper = threading.Thread(target=run, name=f"worldforge-otel-{what}", daemon=True)
    helper.start()
    helper.join(remaining() / 1000.0 + 0.05)
    return bool(outcome and outcome[0])
