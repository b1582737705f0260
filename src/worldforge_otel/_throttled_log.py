"""Error logging that never floods the host: first occurrence in full, repeats at most once a minute."""

from __future__ import annotations

import logging
import time

from worldforge_otel._fork import ForkSafeLock

LOG_INTERVAL_SECS = 60.0


class ThrottledLog:
    """Logs the first failure with its traceback, then a count of repeats at most once per interval.

    Args:
        logger: Where messages go (the package's own logger, never the root logger).
        interval_secs: Minimum time between two repeated messages.
    """

    def __init__(self, logger: logging.Logger, *, interval_secs: float = LOG_INTERVAL_SECS) -> None:
        self._logger = logger
        self._interval_secs = interval_secs
        self._lock = ForkSafeLock()
        self._last_logged: float | None = None
        self._suppressed = 0

    def error(self, message: str, *args: object, exc_info: bool = True) -> None:
        """Log ``message`` now if it is the first one or the interval has passed; otherwise count it."""
        now = time.monotonic()
        with self._lock:
            if self._last_logged is not None and now - self._last_logged < self._interval_secs:
                self._suppressed += 1
                return
            first = self._last_logged is None
            suppressed, self._suppressed = self._suppressed, 0
            self._last_logged = now
        if suppressed:
            message = f"{message} ({suppressed} similar errors suppressed since the last message)"
        self._logger.error(message, *args, exc_info=exc_info and first)
