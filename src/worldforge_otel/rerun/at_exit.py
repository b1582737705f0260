"""Exit order: flush what feeds our recordings, close them, then let rerun-sdk and the providers shut down.

rerun-sdk shuts every recording down in an ``atexit`` handler registered when ``rerun`` is first imported.
Our sinks import it lazily, usually *after* the host created its providers, so that handler runs before
the providers' own exit-time flush and the last batch would be written to a recording already shut down.
:func:`install` (called right after the import) registers a handler that runs before rerun-sdk's and the
providers': it flushes only the pipelines that feed a Rerun exporter (the global providers' and every
registered one), within :data:`EXIT_FLUSH_TIMEOUT_MILLIS`, then closes each recording within its own
deadline. Other exporters (OTLP) are left to the providers' own shutdown, which runs after: a slow or dead
network destination can neither take the recording's time nor leave its file without a footer, and no
network export runs on a thread the interpreter is about to stop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Final

from opentelemetry import _logs, metrics, trace

from worldforge_otel import _fork
from worldforge_otel._atexit_once import register_once
from worldforge_otel._deadline import within
from worldforge_otel._fork import ForkSafeLock

_LOG = logging.getLogger(__name__)
EXIT_FLUSH_TIMEOUT_MILLIS: Final = 5_000

_hooks: list[Callable[[int], object]] = []
_lock = ForkSafeLock()
_finished: weakref.WeakSet[object] = weakref.WeakSet()  # providers shut down already: nothing left to flush
_flushed: weakref.WeakSet[object] = weakref.WeakSet()  # the Rerun pipelines flush_feeders has seen


def provider_finished(provider: object) -> None:
    """Leave ``provider`` out of the exit flush: it was shut down already.

    (Flushing it again at exit would hand its exporters a batch after their shutdown.) A provider that cannot be
    weakly referenced is flushed at exit, as before.
    """
    with contextlib.suppress(TypeError):
        _finished.add(provider)


def flush_before_exit(hook: Callable[[int], object]) -> Callable[[], None]:
    """Run ``hook(timeout_millis)`` at exit before the recordings close; it should flush only what feeds them.

    Returns the function that takes the hook back (a handle that shut down has nothing left to flush, and a
    hook kept would keep the handle alive).
    """
    with _lock:
        _hooks.append(hook)

    def remove() -> None:
        with _lock, contextlib.suppress(ValueError):
            _hooks.remove(hook)

    return remove


def install(close_sinks: Callable[[float | None], object]) -> None:
    """Register the exit handler once; call it right after importing rerun so it runs before rerun-sdk's.

    SIGTERM (what ``docker stop`` and Kubernetes send) ends a process without running ``atexit``: where SIGTERM
    still has its default action, a handler flushes and closes the recordings the same way first, then lets
    the signal end the process as before. A host that handles SIGTERM itself (a server's graceful shutdown) is
    left alone: its shutdown reaches the exit handler, and closing the recordings first would lose what its
    in-flight work still records. A host handler installed later replaces ours, for the same reason.
    """
    register_once("rerun-sinks", _flush_then_close, close_sinks, order=20)
    _handle_sigterm(close_sinks)
    with _lock:
        if not _installed:
            _installed.append(close_sinks)
            _fork.in_child(_close_at_multiprocessing_exit)


_installed: list[Callable[[float | None], object]] = []  # the sinks' closer, once install ran


def _close_at_multiprocessing_exit() -> None:
    """In a forked child: make a ``multiprocessing`` child close its recordings at its end, too.

    A ``multiprocessing`` child ends with ``os._exit`` after its target returns: ``atexit`` never runs there,
    only ``multiprocessing``'s own finalizers. (Other forked children, gunicorn workers among them, end through
    ``sys.exit`` and the exit handler above.)
    """
    util = sys.modules.get("multiprocessing.util")
    if util is not None and _installed:
        # The child's finalizers are cleared when it starts: register once it started, from its after-fork hooks.
        util.register_after_fork(_MULTIPROCESSING_TOKEN, _register_multiprocessing_finalizer)


class _Token:
    """Something ``multiprocessing.util.register_after_fork`` can hold weakly for the life of the process."""


_MULTIPROCESSING_TOKEN: Final = _Token()


def _register_multiprocessing_finalizer(_token: object) -> None:
    import multiprocessing.util

    multiprocessing.util.Finalize(None, _flush_then_close, args=(_installed[0],), exitpriority=100)


SIGTERM_GRACE_SECS: Final = EXIT_FLUSH_TIMEOUT_MILLIS / 1000 + 10.0  # the flush budget, then the closes


def _handle_sigterm(close_sinks: Callable[[float | None], object]) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set signal handlers; exit and shutdown() still close the recordings
    with _lock:
        if _sigterm_handled:
            return
        _sigterm_handled.append(True)
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return  # ignored, or the host's own handler: see above

        def on_sigterm(signum: int, frame: Any) -> None:
            if _closing_on_main_thread:  # interrupted the exit flush itself: it ends the process when done
                _pending_signals.append(signum)
                return
            # On a helper thread, bounded: the main thread may hold a lock the flush needs (it was interrupted).
            helper = threading.Thread(target=_flush_then_close, args=(close_sinks,), name="worldforge-otel-sigterm",
                                      daemon=True)  # fmt: skip
            helper.start()
            helper.join(SIGTERM_GRACE_SECS)
            _end_by(signum)

        signal.signal(signal.SIGTERM, on_sigterm)
    except (ValueError, OSError):  # no signals here (an embedded interpreter): exit and shutdown() still close
        _LOG.debug("worldforge_otel: could not handle SIGTERM", exc_info=True)


def _end_by(signum: int) -> None:
    """End the process by ``signum``'s default action, as it would have ended without us."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


_sigterm_handled: list[bool] = []
_closing_on_main_thread: list[bool] = []  # the exit flush runs on the main thread (a signal there must wait)
_pending_signals: list[int] = []  # a SIGTERM that came during it: delivered once the recordings are closed


def _forget_parents_exit() -> None:
    _closing_on_main_thread.clear()  # a child forked while its parent was closing has its own exit to do
    _pending_signals.clear()


_fork.in_child(_forget_parents_exit)



def flush_feeders(providers: Iterable[object], remaining_millis: Callable[[], int]) -> bool:
    """Flush the processors and readers of ``providers`` that feed a Rerun exporter, and nothing else.

    Each gets what is left of the caller's deadline; one that fails is said and the others still run.
    """
    from worldforge_otel._providers import feeders_of
    from worldforge_otel.rerun.exporter_core import CoreBackedExporter

    ok = True
    for provider in providers:
        for feeder in feeders_of(provider, CoreBackedExporter):
            with contextlib.suppress(TypeError):
                _flushed.add(feeder)  # what an exit flush that runs out of time counts as left behind
            try:
                ok = bool(feeder.force_flush(remaining_millis())) and ok
            except Exception:
                _LOG.warning("worldforge_otel: flushing a Rerun pipeline failed", exc_info=True)
                ok = False
    return ok


def _flush_then_close(close_sinks: Callable[[float | None], object]) -> None:
    if threading.current_thread() is not threading.main_thread():
        _flush_then_close_now(close_sinks)
        return
    _closing_on_main_thread.append(True)
    try:
        _flush_then_close_now(close_sinks)
    finally:
        _closing_on_main_thread.clear()
        if _pending_signals:
            _end_by(_pending_signals[0])


def _flush_then_close_now(close_sinks: Callable[[float | None], object]) -> None:
    def flush(remaining_millis: Callable[[], int]) -> bool:
        providers = (trace.get_tracer_provider(), metrics.get_meter_provider(), _logs.get_logger_provider())
        ok = flush_feeders([provider for provider in providers if provider not in _finished], remaining_millis)
        with _lock:
            hooks = list(_hooks)
        for hook in hooks:
            try:
                ok = bool(hook(remaining_millis())) and ok
            except Exception:
                _LOG.warning("worldforge_otel: flushing at exit failed", exc_info=True)
                ok = False
        return ok

    # Bounded whatever the pipelines hold (the SDK's force_flush exports its whole queue, whatever the timeout).
    if not within(EXIT_FLUSH_TIMEOUT_MILLIS, flush, "exit-flush"):
        from worldforge_otel._providers import queued_items
        from worldforge_otel.rerun.exporter_core import items_in_flight

        left = sum(queued_items(feeder) for feeder in list(_flushed)) + items_in_flight()
        if left:
            _LOG.warning("worldforge_otel: the exit flush ran out of its %.1f s with %d spans/log records still queued "
                         "or being written; what was not written by then is not in the Rerun recording (closed now, so "
                         "the file stays whole)", EXIT_FLUSH_TIMEOUT_MILLIS / 1000, left)  # fmt: skip
    close_sinks(None)  # each recording within its own deadline, whatever the flushes took
