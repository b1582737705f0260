"""The one place that owns a Rerun ``RecordingStream``: where it writes, how it flushes and closes.

A sink writes to a file (the default, a timestamped ``.rrd`` under ``.worldforge/rerun/``), a spawned
viewer, a running viewer (``rerun+http://.../proxy``) or its own gRPC server, or several of these at once.
Traces, metrics and logs of one process share one sink per set of options (:func:`shared_sink`), so two
streams never write the same file. The sink never calls ``rr.init`` and never touches Rerun's global
recording. A mistake in the options is logged once, naming the setting and the fix, and the sink falls
back to the default file (or disables itself); nothing here raises into the host.

A forked child (gunicorn workers, ``multiprocessing``, ``os.fork``) never writes the parent's stream: its sink
reopens on its first write, with a file of its own beside the parent's (``<stem>-<pid>.rrd``) under the same
recording id, so the viewer shows parent and children as one recording.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Final

from worldforge_otel import _env, _fork
from worldforge_otel._atexit_once import register_once
from worldforge_otel._fork import ForkSafeLock
from worldforge_otel._throttled_log import ThrottledLog
from worldforge_otel.rerun import at_exit
from worldforge_otel.rerun.blueprint import accepted, default_blueprint
from worldforge_otel.rerun.columns import ColumnBatch, ColumnGroup, ColumnKind, ShapeRow
from worldforge_otel.rerun.destinations import DEFAULT_VIEWER_PORT, claim_file, file_room_problem, viewer_unreachable
from worldforge_otel.rerun.lanes import STATE_COLORS, STATES
from worldforge_otel.rerun.layout import EVENT_TIMELINE, TIME_TIMELINE
from worldforge_otel.rerun.options import (
    DEFAULT_APPLICATION_ID,
    INHERITED_RECORDING_ID,
    RerunOptions,
    default_save_path,
    resolve_options,
    writable_file_problem,
)

_LOG = logging.getLogger(__name__)

_INSTALL_HINT: Final = "install it with: pip install 'worldforge-otel[rerun]'"


class RerunSink:
    """Owns one ``RecordingStream`` and writes column batches to it; thread-safe.

    Args:
        options: Destinations and ids; ``None`` fields come from ``OTEL_EXPORTER_RERUN_*`` (see :class:`RerunOptions`).
        connect: False makes a disabled sink that opens nothing (used when ``OTEL_SDK_DISABLED=true``).
    """

    def __init__(self, options: RerunOptions | None = None, *, connect: bool = True) -> None:
        self.options = resolve_options(options)
        self.save_path: Path | None = None
        self.server_url: str | None = None
        self.server_bind: str | None = None  # the address the gRPC server listens on, when serving
        self.connected_to: str | None = None  # the viewer URL streamed to, when that destination was set up
        self._claim: IO[str] | None = None  # the lock that makes this sink the only writer of its file
        self._lock = ForkSafeLock()
        self._sequences: dict[str, int] = {}
        self._closed = False
        self._errors = ThrottledLog(_LOG)
        self._rr: Any = None
        self._recording: Any = None
        self._recording_id: str | None = None
        self._users = 0
        self._configured_lanes: set[str] = set()  # bounded as the lanes are (span names per service)
        self._benchmark_charts: list[str] = []  # the default layout shows one chart each (bounded)
        self._reopen = False  # a forked child's sink: opens its own stream on the next write
        self._owns_recording = True  # False for a stream the user passed in (RerunOptions.recording)
        self._live: Any = None  # the live destinations' own stream, when a file is written too
        self._reopen_lock = ForkSafeLock()
        self._closing: threading.Event | None = None  # set once the recording is closed (or given up on)
        if connect:
            self._open()
        _ALL_SINKS.add(self)
        _fork.reset_in_child(self, RerunSink._after_fork_in_child)

    @property
    def enabled(self) -> bool:
        """Whether the sink has a live recording to write to."""
        return self._recording is not None and not self._closed

    @property
    def accepting(self) -> bool:
        """Whether a batch can be written now, or once a forked child's sink reopened.

        When not, a batch is counted as dropped without being translated.
        """
        return not self._closed and (self._recording is not None or self._reopen)

    @property
    def recording_id(self) -> str | None:
        """The Rerun recording id (the configured one, else the one rerun-sdk chose); None if it never opened."""
        return self._recording_id

    @property
    def bytes_written(self) -> int:
        """Size of the ``.rrd`` file so far (0 without a file destination)."""
        try:
            return self.save_path.stat().st_size if self.save_path else 0
        except OSError:
            return 0

    @property
    def supports_lanes(self) -> bool:
        """Whether the installed rerun-sdk has ``StateChange`` lanes (>= 0.32); False before the sink opened."""
        return self._rr is not None and hasattr(self._rr, "StateChange")

    def next_sequence(self, count: int, timeline: str = EVENT_TIMELINE) -> int:
        """Reserve ``count`` consecutive numbers on a sequence timeline and return the first."""
        with self._lock:
            first = self._sequences.get(timeline, 0)
            self._sequences[timeline] = first + count
            return first

    def write(self, batch: ColumnBatch) -> bool:
        """Write every column group of ``batch``; returns False (and logs, throttled) on failure."""
        recording = self._recording
        if recording is None and self._reopen:
            recording = self._reopen_in_child()
        if recording is None or self._closed:
            return False
        if not self._room_for_more():
            return False
        targets = [recording] if self._live is None else [recording, self._live]  # the file's stream first
        try:
            for group in batch:
                self._send(targets, group)
            for shape in batch.shapes:
                self._log_shape(targets, shape)
            if batch.benchmark_charts:
                self._chart_benchmarks(targets, batch.benchmark_charts)
        except Exception:
            self._errors.error("worldforge_otel: writing to the Rerun recording failed")
            return False
        return True

    def _room_for_more(self) -> bool:
        """Whether the file can take another batch; if not, the recording is closed while it can still end whole.

        A file that hits a full disk or the process's file size limit mid-write is cut off unreadable, and what was
        handed to rerun-sdk after that is lost without a word. So the file stops short of the limit instead: it is
        closed with its footer, one line says why, and every later batch is counted as dropped.
        """
        if self.save_path is None:
            return True
        problem = file_room_problem(self.save_path)
        if problem is None:
            return True
        _LOG.error("worldforge_otel: %s, so the Rerun recording %s ends here, closed whole; later data is counted as "
                   "dropped (otel.sdk.exporter.*.exported, error.type=dropped). Free space or choose another "
                   "save_path / --rerun-output / OTEL_EXPORTER_RERUN_SAVE_PATH", problem, self.save_path)  # fmt: skip
        self.close()
        return False

    def flush(self, timeout_secs: float) -> bool:
        """Push buffered data to the destinations, waiting at most ``timeout_secs``."""
        streams = [stream for stream in (self._recording, self._live) if stream is not None]
        if not streams:
            return not self._closed

        def flush_all() -> None:
            for stream in streams:  # the file's first: a hanging viewer cannot hold it back
                _flush(stream, timeout_secs)

        return _run_with_deadline(flush_all, timeout_secs, "flush")

    def close(self, timeout_secs: float | None = None) -> bool:
        """Flush and disconnect within the deadline; idempotent. Returns False if the deadline passed."""
        deadline = self.options.timeout_secs if timeout_secs is None else timeout_secs
        with self._lock:
            closing = self._closing
            if self._closed:  # closed, or closing on another thread (exit and a signal at once): wait for it
                return closing is None or closing.wait(max(deadline, 0.0))
            self._closed = True
            self._closing = closing = threading.Event()
            recording, self._recording = self._recording, None
            live, self._live = self._live, None
        _forget_shared(self)
        try:
            # Each stream within its own deadline, the file's first: a live destination that hangs is given up on
            # without costing the file its footer.
            closed = recording is None or self._close_stream(recording, deadline, "the recording", done=closing)
            if closed and self._claim is not None:  # the file is whole: another sink may write it now
                with contextlib.suppress(OSError):
                    os.unlink(self._claim.name)  # before the lock goes: a newcomer makes a new lock file, never ours
                self._claim.close()
                self._claim = None
            if closed and recording is not None and self.save_path is not None:
                _LOG.info("worldforge_otel: closed the Rerun recording %s (%d bytes)", self.save_path,
                          self.bytes_written)  # fmt: skip
            live_closed = live is None or self._close_stream(
                live, deadline, f"the live viewer stream (the file {self.save_path} was closed whole first)")
            return live_closed and closed
        finally:
            closing.set()

    def _close_stream(self, stream: Any, deadline: float, what: str, done: threading.Event | None = None) -> bool:
        """Flush and disconnect ``stream`` within ``deadline``; a stream stuck on a frozen viewer is abandoned."""

        def close_stream() -> None:
            try:
                _flush(stream, deadline)
                if self._owns_recording:  # a stream the user passed in stays theirs, open
                    stream.disconnect()
            finally:  # whole now: a close waiting on another thread (a signal's) may go on
                if done is not None:
                    done.set()

        thread_name = f"{_CLOSE_THREAD_PREFIX}{id(stream)}"
        closed = _run_with_deadline(close_stream, deadline, "close", thread_name=thread_name)
        if not closed:
            _LOG.warning(
                "worldforge_otel: %s did not close within %.1fs (viewer frozen or unreachable?); continuing without "
                "it. Raise shutdown_timeout_secs to wait longer.",
                what,
                deadline,
            )
            _abandon(self._rr, stream)
            for thread in [t for t in _UNFINISHED if t.name == thread_name]:
                _UNFINISHED.discard(thread)  # stuck for good: no point in the exit-time grace join
        return closed

    def acquire(self) -> RerunSink:
        """Register one more exporter using this sink."""
        with self._lock:
            self._users += 1
        return self

    def release(self, timeout_secs: float | None = None) -> bool:
        """Unregister an exporter; the last one out closes the sink."""
        with self._lock:
            self._users -= 1
            last = self._users <= 0
        return self.close(timeout_secs) if last else True

    def _open(self, *, child: bool = False) -> None:
        try:
            import rerun as rr
        except ImportError:
            _LOG.error("worldforge_otel: rerun-sdk is not installed, so nothing is written to Rerun; %s", _INSTALL_HINT)
            return
        self._rr = rr
        _restore_service_name()
        at_exit.install(_close_all_sinks)  # after `import rerun`, so it runs before rerun-sdk's own exit handler
        register_once("unfinished-rerun-threads", _join_unfinished_at_exit, order=30)
        options = self.options
        if options.recording is not None and not child:
            self._adopt(options.recording)
            return
        try:
            # Two streams of one recording when a file and a live destination are both asked for: the file's own
            # flush and footer never wait for a viewer that hangs.
            recording_id = (self._recording_id if child else options.recording_id) or uuid.uuid4().hex
            made: list[Any] = []

            def live_stream() -> Any:  # made only when a live destination needs it
                if not made:
                    made.append(self._new_stream(rr, recording_id))
                return made[0]

            file_sinks, live_sinks = self._child_destinations(rr) if child else self._destinations(rr, live_stream)
            if not file_sinks and not live_sinks and not made:  # a stream with no sink would buffer all, for nothing
                _LOG.error("worldforge_otel: no Rerun destination could be opened (see above), so nothing is written "
                           "to Rerun; the data is counted as dropped (otel.sdk.exporter.*.exported, "
                           "error.type=dropped)")  # fmt: skip
                return
            live = live_stream() if live_sinks or made else None  # (a server of rerun-sdk < 0.25 runs on it itself)
            if live is not None and live_sinks:
                live.set_sinks(*live_sinks)
            if file_sinks:
                recording = self._new_stream(rr, recording_id)
                recording.set_sinks(*file_sinks)
            else:
                recording, live = live, None
            for stream in (recording, live):
                if stream is not None:
                    self._send_blueprint(stream)
        except Exception:
            _LOG.exception("worldforge_otel: could not open the Rerun recording; nothing is written to Rerun")
            return
        self._recording, self._live = recording, live
        self._recording_id = str(recording.get_recording_id())
        if self.save_path is not None:
            # Python processes this one starts (under opentelemetry-instrument they inherit the configuration)
            # write files of their own; with this id they are one recording in the viewer (see options).
            os.environ.setdefault(INHERITED_RECORDING_ID, f"{os.getpid()}:{self._recording_id}")

    def _new_stream(self, rr: Any, recording_id: str | None) -> Any:
        return rr.RecordingStream(self.options.application_id or DEFAULT_APPLICATION_ID, recording_id=recording_id,
                                  make_default=False, make_thread_default=False)  # fmt: skip

    def _adopt(self, recording: Any) -> None:
        """Write into the user's own stream: its destinations are its own, and it is never closed here."""
        if self.options.has_destination_fields:
            _LOG.warning("worldforge_otel: RerunOptions(recording=...) writes into that stream with its own "
                         "destinations; save_path, spawn, connect_url and serve_grpc_port are ignored")  # fmt: skip
        self._owns_recording = False
        self._recording = recording
        self._recording_id = str(recording.get_recording_id())
        if self.options.blueprint is not None:
            self._send_blueprint(recording)

    def _after_fork_in_child(self) -> None:
        """Right after a fork, in the child: let go of the parent's stream; reopen on the first write.

        The parent's ``RecordingStream`` is kept referenced, never used nor dropped: its writer threads did not
        survive the fork, so flushing or finalizing it could wait for ever. The parent's file lock is closed
        here without removing its file: the parent still holds the lock.
        """
        if self._recording is not None:
            _INHERITED_STREAMS.extend(stream for stream in (self._recording, self._live) if stream is not None)
            self._recording = self._live = None
            self._reopen = not self._closed and self._owns_recording  # (a stream of the user's is the parent's)
        if self._claim is not None:
            with contextlib.suppress(OSError):
                self._claim.close()  # another descriptor of the parent's lock: the parent keeps it
            self._claim = None

    def _reopen_in_child(self) -> Any:
        """Open this forked child's own stream: the same destinations, a file of its own, the same recording id.

        The file is claimed beside the parent's (``<stem>-<pid>.rrd``); a live viewer is connected to again;
        a viewer the parent spawned or a server it runs is streamed to as a client (the port is the parent's).
        """
        with self._reopen_lock:  # the span, metric and log exporters may all write first: one opens, all wait
            if not self._reopen:
                return self._recording
            self._configured_lanes.clear()  # (the sequence numbers go on from the parent's: never one twice)
            self._open(child=True)
            self._reopen = False
        if self._recording is not None:
            _LOG.info("worldforge_otel: forked process %d records to %s (recording id %s)", os.getpid(),
                      self.save_path or self.connected_to, self._recording_id)  # fmt: skip
        return self._recording

    def _local_viewer_and_server(self, rr: Any, live: Callable[[], Any], *, others: bool) -> tuple[list[Any], bool]:
        """A spawned viewer and this process's own gRPC server, as the options ask; and whether the port was bad."""
        options = self.options
        sinks: list[Any] = []
        bad_port = False
        if options.spawn:
            rr.spawn(port=DEFAULT_VIEWER_PORT, connect=False)
            sinks.append(rr.GrpcSink(f"rerun+http://127.0.0.1:{DEFAULT_VIEWER_PORT}/proxy"))
        if options.serve_grpc_port is not None:
            try:
                port = _env.parse_port(str(options.serve_grpc_port))
            except _env.BadValueError as error:
                _env.report_bad_value(
                    "serve_grpc_port", str(options.serve_grpc_port), str(error), "writing to a file instead"
                )
                bad_port = True
            else:
                sinks.extend(self._server_sink(rr, live, port, others=others or bool(sinks)))
        return sinks, bad_port

    def _child_destinations(self, rr: Any) -> tuple[list[Any], list[Any]]:
        """A forked child's file sinks and live sinks (see :meth:`_reopen_in_child`)."""
        live_sinks: list[Any] = []
        live = self.connected_to or self.server_url
        if self.options.spawn and live is None:
            live = f"rerun+http://127.0.0.1:{DEFAULT_VIEWER_PORT}/proxy"
        if live is not None:
            live_sinks.append(rr.GrpcSink(live))
            self.connected_to, self.server_url, self.server_bind = live, None, None
        file_sink = self._file_sink(rr, self.save_path) if self.save_path is not None else None
        return ([] if file_sink is None else [file_sink]), live_sinks

    def _chart_benchmarks(self, targets: list[Any], charts: list[str]) -> None:
        """Send the default layout again when a benchmark result of a new kind arrives: one chart each.

        Only for the default layout (a chosen one is the user's). A file opens with the newest default; a live
        viewer keeps the layout it opened with until the layout is reset.
        """
        new = [chart for chart in dict.fromkeys(charts) if chart not in self._benchmark_charts]
        if not new or self.options.blueprint is not None or len(self._benchmark_charts) >= MAX_BENCHMARK_CHARTS:
            return
        self._benchmark_charts.extend(new[: MAX_BENCHMARK_CHARTS - len(self._benchmark_charts)])
        for recording in targets:
            self._send_blueprint(recording)

    def _send_blueprint(self, recording: Any) -> None:
        try:
            if self.options.blueprint is None:
                blueprint = default_blueprint(benchmark_charts=self._benchmark_charts)
            else:
                chosen = self.options.blueprint
                blueprint = chosen() if callable(chosen) else chosen
            recording.send_blueprint(blueprint, make_active=False, make_default=True)
        except Exception:  # a layout problem must never cost the data
            _LOG.warning("worldforge_otel: could not send the Rerun blueprint; recording without it", exc_info=True)

    def _destinations(self, rr: Any, live: Callable[[], Any]) -> tuple[list[Any], list[Any]]:
        """The file sinks and the live sinks (viewers, this process's server) to open; ``live()`` is their stream."""
        options = self.options
        sinks: list[Any] = []
        save_path = options.save_path
        unreachable = ""
        if options.connect_url is not None:
            try:
                url = _env.parse_rerun_url(options.connect_url)
            except _env.BadValueError as error:
                _env.report_bad_value("connect_url", options.connect_url, str(error), "writing to a file instead")
                save_path = save_path or default_save_path()
            else:
                problem = viewer_unreachable(url)
                if problem is None:
                    sinks.append(rr.GrpcSink(url))
                    self.connected_to = url
                else:  # the data would be lost: keep it in a file (named below and in the CLI's summary)
                    save_path = save_path or default_save_path()
                    unreachable = f"no Rerun viewer answers at {url} ({problem}), so nothing is streamed there"
        local, bad_port = self._local_viewer_and_server(rr, live, others=bool(sinks))
        sinks.extend(local)
        if bad_port:
            save_path = save_path or default_save_path()
        if not sinks and not save_path and self.server_url is None:
            save_path = default_save_path()
        file_sink = self._file_sink(rr, Path(save_path)) if save_path else None
        if unreachable:
            _LOG.error("worldforge_otel: %s; the recording is kept in %s. Start the viewer first (`rerun`), or choose "
                       "the file with save_path / --rerun-output / OTEL_EXPORTER_RERUN_SAVE_PATH", unreachable,
                       self.save_path or "no file either (see above)")  # fmt: skip
        return ([] if file_sink is None else [file_sink]), sinks

    def _file_sink(self, rr: Any, path: Path) -> Any:
        for candidate in (path, default_save_path()):
            problem = writable_file_problem(candidate)
            if problem is not None:
                _LOG.error(
                    "worldforge_otel: cannot write the Rerun recording to %s (%s); choose a writable "
                    "save_path / --rerun-output / OTEL_EXPORTER_RERUN_SAVE_PATH.%s",
                    candidate,
                    problem,
                    " Trying the default location." if candidate == path else " Nothing is written to a file.",
                )
                continue
            claimed, self._claim = claim_file(candidate)
            if claimed != candidate:
                _LOG.info("worldforge_otel: another process writes %s; this one (pid %d) writes %s (same recording id, "
                          "so the viewer shows them as one recording)", candidate, os.getpid(), claimed)  # fmt: skip
            self.save_path = claimed
            return rr.FileSink(str(claimed))
        return None

    def _server_sink(self, rr: Any, live: Callable[[], Any], port: int, *, others: bool) -> list[Any]:
        server_sink = getattr(rr, "GrpcServerSink", None)
        if server_sink is not None:  # rerun-sdk >= 0.25 can combine a server with other sinks
            try:  # rerun-sdk >= 0.41: bound to this machine only (rerun's default is every interface)
                sink = server_sink(bind_ip=SERVE_GRPC_BIND_IP, port=port)
                self.server_bind = SERVE_GRPC_BIND_IP
            except TypeError:  # rerun-sdk 0.25-0.40
                sink = server_sink(grpc_port=port)
                self._warn_every_interface(rr, port)
            self.server_url = f"rerun+http://127.0.0.1:{port}/proxy"
            return [sink]
        if others:
            _LOG.warning(
                "worldforge_otel: rerun-sdk %s cannot serve gRPC next to a live viewer; serving only on port %d "
                "(a file is still written). Upgrade rerun-sdk to combine them.",
                getattr(rr, "__version__", "?"),
                port,
            )
        self.server_url = live().serve_grpc(grpc_port=port)
        self._warn_every_interface(rr, port)
        return []

    def _warn_every_interface(self, rr: Any, port: int) -> None:
        self.server_bind = "0.0.0.0"  # what this rerun-sdk does; said below
        _LOG.warning(
            "worldforge_otel: rerun-sdk %s serves the recording on port %d of every network interface, without "
            "authentication; rerun-sdk >= 0.41 lets it bind to 127.0.0.1 only",
            getattr(rr, "__version__", "?"),
            port,
        )

    def _send(self, targets: list[Any], group: ColumnGroup) -> None:
        rr = self._rr
        np = _numpy()
        indexes = [rr.TimeColumn(TIME_TIMELINE, timestamp=np.asarray(group.times_ns, dtype="datetime64[ns]"))]
        if group.sequences is not None:
            indexes.append(rr.TimeColumn(group.sequence_timeline, sequence=group.sequences))
        if group.kind is ColumnKind.TEXT_LOG:
            columns = rr.TextLog.columns(text=group.values, level=group.levels)
            if group.attributes is not None:
                columns = [*columns, *self._attribute_columns(rr, group)]
        elif group.kind is ColumnKind.DOCUMENT:
            columns = rr.TextDocument.columns(text=group.values, media_type=["text/plain"] * len(group.values))
        elif group.kind is ColumnKind.STATE:
            if not self.supports_lanes:
                return
            self._configure_lane(targets, group.path)
            columns = rr.StateChange.columns(state=group.values)
        else:
            columns = rr.Scalars.columns(scalars=np.asarray(group.values, dtype=np.float64))
        # recording= by keyword: on rerun-sdk 0.41 a positional recording is dropped with a warning.
        for recording in targets:  # built once, sent to each stream
            rr.send_columns(group.path, indexes=indexes, columns=columns, recording=recording)

    def _configure_lane(self, targets: list[Any], path: str) -> None:
        """Colour a lane's states once (static), so every lane reads alike: ok green, retry amber, error red."""
        if path in self._configured_lanes:
            return
        self._configured_lanes.add(path)
        rr = self._rr
        configuration = rr.StateConfiguration(values=list(STATES), colors=[list(color) for color in STATE_COLORS])
        for recording in targets:
            rr.log(path, configuration, static=True, recording=recording)

    def _attribute_columns(self, rr: Any, group: ColumnGroup) -> list[Any]:
        """The rows' attributes as ``AnyValues`` components of the same entity.

        A column that cannot be one is left out (and said, throttled); the rest of the group is still written.
        """
        columns: list[Any] = []
        for name, (kind, values) in group.attribute_columns().items():
            try:
                columns.extend(rr.AnyValues.columns(**{name: _arrow_column(kind, values)}))
            except Exception:
                self._errors.error("worldforge_otel: span attribute %r could not be written as a column", name,
                                   exc_info=False)  # fmt: skip
        return columns

    def _log_shape(self, targets: list[Any], shape: ShapeRow) -> None:
        rr = self._rr
        archetype = accepted(getattr(rr, shape.kind.value), **shape.fields)
        timestamp = _numpy().datetime64(shape.time_ns, "ns")
        for recording in targets:
            # Time context is per thread and recording; set it, log, and reset it so nothing leaks into other rows.
            rr.set_time(TIME_TIMELINE, timestamp=timestamp, recording=recording)
            for timeline, value in shape.sequences.items():
                rr.set_time(timeline, sequence=value, recording=recording)
            try:
                rr.log(shape.path, archetype, recording=recording)
            finally:
                rr.reset_time(recording=recording)


def _abandon(rr: Any, recording: Any) -> None:
    """Make sure a recording stuck on a frozen destination cannot hang the process at exit.

    rerun-sdk waits without a deadline for a gRPC destination that accepted the connection but never reads,
    both in its own exit handler and when the ``RecordingStream`` is finalized (upstream rerun-io/rerun#12620).
    The stuck stream is therefore never freed (one deliberate leak, only in this failure), and rerun-sdk's
    exit handler is unregistered; other recordings of the process then are not flushed by it at exit.
    """
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(recording))
    unregister = getattr(rr, "unregister_shutdown", None)
    if callable(unregister):
        unregister()
        _LOG.warning(
            "worldforge_otel: rerun-sdk would wait forever for that destination at exit (rerun-io/rerun#12620), "
            "so its exit handler is unregistered; flush any other Rerun recordings of this process yourself"
        )


def _restore_service_name() -> None:
    """Undo what ``import rerun`` does to the process environment.

    rerun-sdk sets ``OTEL_SERVICE_NAME=rerun-py`` at the C level (``os.environ`` does not see it), so every process
    the host starts afterwards would report as ``rerun-py``.
    """
    name = os.environ.get("OTEL_SERVICE_NAME")
    if name is not None:
        os.putenv("OTEL_SERVICE_NAME", name)
    else:
        os.unsetenv("OTEL_SERVICE_NAME")


def _numpy() -> Any:
    import numpy

    return numpy


def _arrow_column(kind: str | None, values: list[object]) -> Any:
    """An attribute column of ``kind`` (see ``ColumnGroup.attribute_columns``) as an Arrow array, else as it is.

    rerun-sdk >= 0.25 turns a Python list into Arrow one value at a time in Python (about 0.6 µs a value);
    an Arrow array of the same type is taken as it is, and makes the same component.
    """
    arrow_type = _ARROW_TYPES.get(kind)  # type: ignore[arg-type]
    if arrow_type is None:
        return values  # no value at all: rerun-sdk's own inference (a null column)
    import pyarrow  # rerun-sdk's own dependency

    try:
        return pyarrow.array(values, type=getattr(pyarrow, arrow_type)())
    except (pyarrow.ArrowInvalid, pyarrow.ArrowTypeError):
        return values


_ARROW_TYPES: Final = {"text": "string", "number": "float64", "bool": "bool_"}  # by ColumnGroup's kinds


def _flush(recording: Any, timeout_secs: float) -> None:
    try:
        recording.flush(timeout_sec=timeout_secs)  # rerun-sdk >= 0.25
    except TypeError:
        recording.flush(blocking=True)  # rerun-sdk 0.24


def _run_with_deadline(action: Any, timeout_secs: float, what: str, *, thread_name: str | None = None) -> bool:
    """Run ``action`` on a daemon thread and wait at most ``timeout_secs`` (a frozen viewer can hang it)."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            action()
        except BaseException as error:
            outcome.append(error)
        else:
            outcome.append(None)

    thread = threading.Thread(target=target, name=thread_name or f"worldforge-otel-rerun-{what}", daemon=True)
    thread.start()
    thread.join(max(timeout_secs, 0.0))
    if not outcome:
        _UNFINISHED.add(thread)  # joined (bounded) at exit: native code killed mid-call aborts the process
        return False
    if outcome[0] is not None:
        _LOG.warning("worldforge_otel: Rerun %s failed: %s", what, outcome[0])
        return False
    return True


_UNFINISHED: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
MAX_BENCHMARK_CHARTS: Final = 16
SERVE_GRPC_BIND_IP: Final = "127.0.0.1"
_CLOSE_THREAD_PREFIX: Final = "worldforge-otel-rerun-close-"
EXIT_GRACE_SECS: Final = 10.0


def _join_unfinished_at_exit() -> None:
    """Give flushes/closes that outlived their deadline a bounded last chance to end before exit."""
    deadline = time.monotonic() + EXIT_GRACE_SECS
    for thread in list(_UNFINISHED):
        thread.join(max(0.0, deadline - time.monotonic()))


# -- one sink per set of options, shared by the span, metric and log exporters of a process --------------

_ALL_SINKS: weakref.WeakSet[RerunSink] = weakref.WeakSet()
_SHARED: dict[RerunOptions, RerunSink] = {}
_SHARED_LOCK = ForkSafeLock()


def _close_all_sinks(timeout_secs: float | None = None) -> None:
    """Close every open sink (each within ``timeout_secs``, or its own shutdown deadline when None)."""
    for sink in list(_ALL_SINKS):
        if sink.enabled:
            sink.close(timeout_secs)


def shared_sink(options: RerunOptions | None = None) -> RerunSink:
    """The process-wide sink for ``options`` (created on first use), with one more user registered.

    Options without a destination get one default file per process, so exporters built separately
    (as the OTel SDK builds them from environment variables) still share one recording.
    """
    options = resolve_options(options)
    with _SHARED_LOCK:
        sink = _SHARED.get(options)
        if sink is None or sink._closed:  # (one that could not open stays: its problem was said once)
            sink = RerunSink(options)
            _SHARED[options] = sink
        return sink.acquire()


def _forget_shared(sink: RerunSink) -> None:
    with _SHARED_LOCK:
        for key, value in list(_SHARED.items()):
            if value is sink:
                del _SHARED[key]


_INHERITED_STREAMS: list[Any] = []  # a forked child's copies of its parent's streams: see _after_fork_in_child
