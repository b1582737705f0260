"""Where a recording may go, checked before and while writing: file claims, disk room, a viewer's address.

Each answer is a reason (text for the one log line that says it) or ``None`` when all is well; nothing here
raises or writes.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import IO, Final
from urllib.parse import urlsplit

DEFAULT_VIEWER_PORT: Final = 9876
VIEWER_PROBE_SECS: Final = 1.0  # how long the one connection attempt to a viewer may take when a sink opens
DISK_RESERVE_BYTES: Final = 16 * 1024 * 1024  # left free on a file's disk for what rerun-sdk holds and the footer


def file_room_problem(path: Path) -> str | None:
    """Why ``path`` should take no more data (its disk nearly full, the file size limit near); None if it can.

    Keeps a reserve (:data:`DISK_RESERVE_BYTES` on the disk; an eighth of ``RLIMIT_FSIZE``, within bounds) for what
    rerun-sdk still holds and the footer. Two system calls, once per batch.
    """
    try:
        disk = os.statvfs(path.parent)
        free = disk.f_bavail * disk.f_frsize
        if free < DISK_RESERVE_BYTES:
            return f"only {free // 1024} kB are left on the disk of {path.parent}"
        limit = _file_size_limit()
        if limit is not None and path.stat().st_size + min(max(limit // 8, 64 * 1024), DISK_RESERVE_BYTES) > limit:
            return f"the file nears this process's file size limit ({limit} bytes, RLIMIT_FSIZE)"
    except (OSError, ValueError):
        return None  # not knowable here: write on, as rerun-sdk would
    return None


def _file_size_limit() -> int | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else soft


def viewer_unreachable(url: str, timeout_secs: float = VIEWER_PROBE_SECS) -> str | None:
    """Why nothing accepts a connection at the viewer ``url`` (refused, no such host, timed out); None if it does.

    One TCP connection attempt, when the sink opens: a viewer that is not running is said at once instead of the
    data going nowhere. (A viewer that accepts and then never reads is handled at close: see ``sinks._abandon``.)
    """
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or DEFAULT_VIEWER_PORT), timeout_secs):
            return None
    except OSError as error:
        return error.strerror or type(error).__name__


def claim_file(path: Path) -> tuple[Path, IO[str] | None]:
    """The file this sink may write for ``path``, and the claim to release when it closes; never two writers.

    ``path`` itself unless another sink (of this or another live process) writes it, then
    ``<stem>-<pid><suffix>`` beside it. A claim is an exclusive ``flock`` on ``.<name>.lock`` beside the file,
    held by the open lock file; the sink removes it when it closes (the kernel releases the lock if the process
    ends first, even on a crash, and the empty file stays). Where ``fcntl`` is missing (Windows) or no lock
    file can be made, ``path`` is returned unclaimed.
    """
    try:
        import fcntl
    except ImportError:
        return path, None
    for candidate in (path, path.with_name(f"{path.stem}-{os.getpid()}{path.suffix}")):
        try:
            handle = open(candidate.with_name(f".{candidate.name}.lock"), "a")  # noqa: SIM115  # held while writing
        except OSError:
            return candidate, None  # no lock file possible there: the file's own check decides
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return candidate, handle
    return path.with_name(f"{path.stem}-{os.getpid()}-{id(path)}{path.suffix}"), None
