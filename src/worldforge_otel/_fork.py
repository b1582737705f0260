"""The package's one fork hook: a forked child never inherits a lock of ours held, nor a half-made span.

``os.fork()`` copies only the calling thread. A lock another thread held at that moment stays held in the
child for ever, and our worker may have been inside the OTel SDK (holding the SDK's metric locks) when the
host forked. So, around every fork:

- before: each registered *pause* runs (the event worker finishes the event it is on and waits), so none of
  our threads is inside the SDK at the moment of the fork;
- after, in the parent: the pauses are lifted;
- after, in the child: every :class:`ForkSafeLock` is replaced by a fresh one, then each registered
  *child reset* runs (queues empty, sinks reopen on their next write, a ``multiprocessing`` child closes its
  recordings at its exit).
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

_LOG = logging.getLogger(__name__)
_T = TypeVar("_T")


class ForkSafeLock:
    """A ``threading.Lock`` that a forked child gets back unlocked, whichever thread held it at the fork."""

    __slots__ = ("__weakref__", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        _LOCKS.add(self)

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()

    def _renew(self) -> None:
        self._lock = threading.Lock()


class Pause:
    """What :func:`pause_at_fork` returns: a lock the owner's worker holds while it works; a fork takes it first."""

    __slots__ = ("__weakref__", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()


def pause_at_fork(owner: object) -> Pause:
    """A :class:`Pause` for ``owner``'s worker: hold it around each unit of work that must not be cut by a fork.

    The fork waits for the unit in progress (keep units short: one event, not a batch).
    """
    pause = Pause()
    _PAUSES[owner] = pause
    return pause


def reset_in_child(owner: _T, reset: Callable[[_T], object]) -> None:
    """Run ``reset(owner)`` in a forked child (after the locks were renewed), for as long as ``owner`` lives."""
    _RESETS[owner] = reset


def in_child(reset: Callable[[], object]) -> None:
    """Run ``reset()`` in every forked child (for module-level state; objects use :func:`reset_in_child`)."""
    _MODULE_RESETS.append(reset)


def _before() -> None:
    _held.clear()
    for pause in list(_PAUSES.values()):
        # Bounded: a worker stuck in an exporter must not hang the host's fork (the child then may inherit a
        # held SDK lock, as it would without us).
        if pause._lock.acquire(timeout=PAUSE_TIMEOUT_SECS):
            _held.append(pause)


def _after_in_parent() -> None:
    for pause in _held:
        pause._lock.release()
    _held.clear()


def _after_in_child() -> None:
    _held.clear()
    for lock in list(_LOCKS):
        lock._renew()
    for pause in list(_PAUSES.values()):
        pause._lock = threading.Lock()
    bound: list[Callable[[], object]] = [partial(reset, owner) for owner, reset in list(_RESETS.items())]
    for reset in [*bound, *_MODULE_RESETS]:
        try:
            reset()
        except Exception:  # a fork hook that raised would be printed by the interpreter and the rest skipped
            _LOG.warning("worldforge_otel: resetting %r in a forked child failed", reset, exc_info=True)


PAUSE_TIMEOUT_SECS = 1.0
_held: list[Pause] = []  # the pauses taken by the fork in progress
_MODULE_RESETS: list[Callable[[], object]] = []
_LOCKS: weakref.WeakSet[ForkSafeLock] = weakref.WeakSet()
_PAUSES: weakref.WeakKeyDictionary[Any, Pause] = weakref.WeakKeyDictionary()
_RESETS: weakref.WeakKeyDictionary[Any, Callable[[Any], object]] = weakref.WeakKeyDictionary()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before, after_in_parent=_after_in_parent, after_in_child=_after_in_child)
