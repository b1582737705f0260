"""``atexit`` registration that happens once per key, at the moment it is first needed.

The moment matters: ``atexit`` runs the last-registered handler first, so registering when the first event
or the first recording appears (after the host created its providers and after ``import rerun``) makes our
flush run before the providers' and rerun-sdk's own exit handlers.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
from typing import Any

from worldforge_otel._fork import ForkSafeLock

_registered: set[str] = set()
_lock = ForkSafeLock()


def register_once(key: str, handler: Callable[..., Any], *args: Any) -> None:
    """``atexit.register(handler, *args)`` the first time ``key`` is seen; later calls do nothing."""
    with _lock:
        if key in _registered:
            return
        _registered.add(key)
    atexit.register(handler, *args)
