"""``RerunOptions``: where a recording goes, resolved as keyword argument > ``OTEL_EXPORTER_RERUN_*`` > default.

Usage::

    RerunSpanExporter()                                       # everything from the environment
    RerunSpanExporter(options=RerunOptions(save_path="a.rrd"))  # save_path from code, the rest from the environment

A field left ``None`` is read from its environment variable (:mod:`worldforge_otel.environment_variables`).
A bad variable is reported once, naming it and the fix, and ignored: with no destination left the
recording goes to the default file. Resolving never raises.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

from worldforge_otel import _env
from worldforge_otel import environment_variables as env_names

DEFAULT_DIRECTORY: Final = Path(".worldforge/rerun")
DEFAULT_APPLICATION_ID: Final = "worldforge"
DEFAULT_SHUTDOWN_TIMEOUT_SECS: Final = 5.0
_FALLBACK: Final = "ignoring it (the recording goes to the default file unless another destination is set)"
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class RerunOptions:
    """Where a recording goes; ``None`` fields come from ``OTEL_EXPORTER_RERUN_*``, then the defaults.

    Args:
        save_path: ``.rrd`` file to write (``OTEL_EXPORTER_RERUN_SAVE_PATH``).
        spawn: Start a Rerun viewer and stream to it (``OTEL_EXPORTER_RERUN_SPAWN``).
        connect_url: Stream to a running viewer, e.g. ``rerun+http://127.0.0.1:9876/proxy``
            (``OTEL_EXPORTER_RERUN_CONNECT_URL``).
        serve_grpc_port: Serve the recording on this port (``OTEL_EXPORTER_RERUN_SERVE_GRPC_PORT``).
        application_id: Rerun application id, default ``worldforge`` (``OTEL_EXPORTER_RERUN_APPLICATION_ID``).
        recording_id: Rerun recording id; processes sharing one merge in the viewer
            (``OTEL_EXPORTER_RERUN_RECORDING_ID``).
        shutdown_timeout_secs: Upper bound on flushing and closing, default 5
            (``OTEL_EXPORTER_RERUN_SHUTDOWN_TIMEOUT``).
        blueprint: The recording's default layout instead of :func:`~worldforge_otel.rerun.blueprint.default_blueprint`:
            a ``rerun.blueprint.Blueprint``, or a function returning one (called when the recording opens, so
            rerun-sdk is imported only then). Code only; no variable.
        recording: An ``rr.RecordingStream`` of your own to write into, with the destinations you gave it; the
            destination fields above are then ignored. It stays yours: flushed on shutdown and at exit, never
            closed, and no layout is sent to it unless ``blueprint`` is given. Code only; no variable.
    """

    save_path: str | os.PathLike[str] | None = None
    spawn: bool | None = None
    connect_url: str | None = None
    serve_grpc_port: int | None = None
    application_id: str | None = None
    recording_id: str | None = None
    shutdown_timeout_secs: float | None = None
    blueprint: Any = field(default=None, compare=False)  # a layout is not a destination: sinks are shared by the rest
    recording: Any = None  # compared by identity: the exporters given one stream share one sink

    @property
    def has_destination(self) -> bool:
        """Whether any destination was chosen (a stream of your own is one)."""
        return self.recording is not None or self.has_destination_fields

    @property
    def has_destination_fields(self) -> bool:
        """Whether a file, viewer or server destination was chosen."""
        return bool(self.save_path or self.spawn or self.connect_url or self.serve_grpc_port)

    @property
    def timeout_secs(self) -> float:
        """``shutdown_timeout_secs`` or its default."""
        return DEFAULT_SHUTDOWN_TIMEOUT_SECS if self.shutdown_timeout_secs is None else self.shutdown_timeout_secs


def resolve_options(options: RerunOptions | None = None, environ: Mapping[str, str] | None = None) -> RerunOptions:
    """Fill every ``None`` field of ``options`` from the environment, then from the defaults."""
    given = options or RerunOptions()

    def pick(value: _T | None, variable: str, parse: Callable[[str], _T], default: _T | None = None) -> _T | None:
        if value is not None:
            return value
        from_env = _env.read(variable, parse, consequence=_FALLBACK, environ=environ)
        return default if from_env is None else from_env

    save_path = pick(
        Path(given.save_path) if given.save_path else None,
        env_names.OTEL_EXPORTER_RERUN_SAVE_PATH,
        _parse_writable_path,
    )
    return dataclasses.replace(
        given,
        save_path=save_path,
        spawn=pick(given.spawn, env_names.OTEL_EXPORTER_RERUN_SPAWN, _env.parse_bool, False),
        connect_url=pick(given.connect_url, env_names.OTEL_EXPORTER_RERUN_CONNECT_URL, _env.parse_rerun_url),
        serve_grpc_port=pick(given.serve_grpc_port, env_names.OTEL_EXPORTER_RERUN_SERVE_GRPC_PORT, _env.parse_port),
        application_id=pick(
            given.application_id, env_names.OTEL_EXPORTER_RERUN_APPLICATION_ID, _env.parse_text, DEFAULT_APPLICATION_ID
        ),
        recording_id=pick(given.recording_id, env_names.OTEL_EXPORTER_RERUN_RECORDING_ID, _env.parse_text)
        or _inherited_recording_id(),
        shutdown_timeout_secs=pick(
            given.shutdown_timeout_secs,
            env_names.OTEL_EXPORTER_RERUN_SHUTDOWN_TIMEOUT,
            _env.parse_seconds,
            DEFAULT_SHUTDOWN_TIMEOUT_SECS,
        ),
    )


INHERITED_RECORDING_ID: Final = "WORLDFORGE_OTEL_PARENT_RECORDING_ID"
"""``<pid>:<recording id>`` of the first process of a run that wrote a file: processes it starts write files of
their own (never the same file) in the same recording, so the viewer shows them as one."""


def _inherited_recording_id() -> str | None:
    pid, _, recording_id = os.environ.get(INHERITED_RECORDING_ID, "").partition(":")
    return recording_id if recording_id and pid != str(os.getpid()) else None


def default_save_path() -> Path:
    """A new timestamped file name under ``.worldforge/rerun/``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return DEFAULT_DIRECTORY / f"worldforge-otel-{stamp}-{os.getpid()}.rrd"


def writable_file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be written (its directory is created if missing), or None when it can."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab"):  # never truncates: a recording may already be writing this file
            pass
        # A full disk (or a device such as /dev/full) fails on write, not on open: probe with one byte.
        probe = path if path.exists() and not path.is_file() else path.parent / f".{path.name}.{os.getpid()}.probe"
        with probe.open("ab") as handle:
            handle.write(b"\0")
            handle.flush()
        if probe != path:
            probe.unlink(missing_ok=True)
    except OSError as error:
        blocking = next((parent for parent in path.parents if parent.exists() and not parent.is_dir()), None)
        if blocking is not None:
            return f"{blocking} is a file, not a directory"
        return error.strerror or str(error)
    return None


def _parse_writable_path(text: str) -> Path:
    path = Path(text).expanduser()
    problem = writable_file_problem(path)
    if problem is not None:
        raise _env.BadValueError(f"cannot be written ({problem}); set a path in a writable directory")
    return path
