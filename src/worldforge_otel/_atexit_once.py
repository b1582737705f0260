"""The package's one ``atexit`` hook: the steps of our exit, each added once, at the moment it is first needed.

The moment matters: ``atexit`` runs the last-registered handler first, so the hook is registered again whenever a
step is added (when the first event is queued, right after ``import rerun``): it then runs before the exit
handlers of the host's providers and of rerun-sdk, which were registered earlier. The steps run in their
``order`` whatever the order they were added in: queued events first, then the recordings, then the last chance
given to closes that outlived their deadline.
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Callable
from typing import Any

from worldforge_otel._fork import ForkSafeLock

_LOG = logging.getLogger(__name__)
_steps: dict[str, tuple[int, Callable[..., Any], tuple[Any, ...]]] = {}
_lock = ForkSafeLock()


def register_once(key: str, handler: Callable[..., Any], *args: Any, order: int) -> None:
    """Run ``handler(*args)`` at exit, step ``order`` of the package's exit hook; once per ``key``."""
    with _lock:
        if key in _steps:
            return
        _steps[key] = (order, handler, args)
    atexit.unregister(_run_steps)
    atexit.register(_run_steps)


def _run_steps() -> None:
    with _lock:
        steps = sorted(_steps.values(), key=lambda step: step[0])
    for _, handler, args in steps:
        try:
            handler(*args)
        except Exception:  # one failed step must not cost the others
            _LOG.warning("worldforge_otel: an exit step failed", exc_info=True)
