"""OTLP/JSON files -> Rerun: what ``worldforge-otel convert`` reads.

The OpenTelemetry Collector's file exporter writes one OTLP/JSON request per line (``{"resourceSpans": ...}``,
``{"resourceMetrics": ...}`` or ``{"resourceLogs": ...}``); a file holding a single pretty-printed request is
read too, and a UTF-8 byte-order mark is skipped. Compressed files are recognised by their first bytes:
gzip and zstd streams of such lines (``.json.gz``; the exporter's native zstd compression), and the exporter's
classic ``compression: zstd`` layout (each request zstd-compressed behind a 4-byte big-endian length). zstd
needs the ``zstandard`` package (in the ``collector`` extra). Each request goes through the same decoding and
pipeline as a received one; the report says, per file, what was read and why anything was not.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from worldforge_otel.collector.decode import SIGNALS, Decoded, MalformedRequestError, from_json_document
from worldforge_otel.collector.pipeline import Pipeline

_LOG = logging.getLogger("worldforge_otel.collector")
_KEYS: Final = {"resourceSpans": "traces", "resourceMetrics": "metrics", "resourceLogs": "logs"}
MAX_SINGLE_DOCUMENT_BYTES: Final = 256 * 1024 * 1024  # a file that is one (pretty-printed) request is read whole
MAX_FRAME_BYTES: Final = 256 * 1024 * 1024  # one length-prefixed request of the classic zstd layout
_GZIP: Final = b"\x1f\x8b"
_ZSTD: Final = b"\x28\xb5\x2f\xfd"


class UnreadableFileError(ValueError):
    """A file this command cannot read at all (the message says why and what to do)."""


@dataclass
class FileReport:
    """What one file held: requests read, items kept and rejected, and the first reason anything was not read."""

    path: Path
    requests: int = 0
    items: int = 0
    rejected: int = 0
    skipped_lines: int = 0
    first_problem: str = ""

    def problem(self, reason: str) -> None:
        """Remember the first problem of this file."""
        self.first_problem = self.first_problem or reason


@dataclass
class ConvertReport:
    """What a conversion read: requests per signal, items rejected inside them, lines that were not OTLP."""

    requests: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SIGNALS, 0))
    rejected_items: int = 0
    items: int = 0
    bad_lines: list[str] = field(default_factory=list)  # "file:line: reason"
    files: list[FileReport] = field(default_factory=list)


def convert_files(paths: list[Path], pipeline: Pipeline) -> ConvertReport:
    """Feed every request in ``paths`` to ``pipeline`` (waiting for room, never refusing); returns the report."""
    report = ConvertReport()
    for path in paths:
        file_report = FileReport(path)
        report.files.append(file_report)
        try:
            for number, text in _documents(path):
                _convert_document(number, text, pipeline, report, file_report)
        except (UnreadableFileError, OSError, EOFError) as error:
            file_report.problem(str(error))
    for line in report.bad_lines[:20]:
        _LOG.warning("worldforge_otel convert: skipped %s", line)
    return report


def _convert_document(number: int, text: str, pipeline: Pipeline, report: ConvertReport, file: FileReport) -> None:
    where = f"{file.path}:{number}"
    try:
        document = json.loads(text)
        keys = document.keys() & _KEYS.keys()
    except (ValueError, AttributeError, RecursionError) as error:
        _skip(report, file, f"{where}: not a JSON object ({str(error)[:200]})")
        return
    if len(keys) != 1:
        _skip(report, file, f"{where}: expected one of {', '.join(_KEYS)}")
        return
    signal = _KEYS[keys.pop()]
    request_type, decode, _ = SIGNALS[signal]
    try:
        decoded: Decoded[object] = decode(from_json_document(document, request_type))
    except MalformedRequestError as error:
        _skip(report, file, f"{where}: {error}")
        return
    kept = sum(len(items) for items in decoded.by_service.values())
    while not pipeline.submit(signal, decoded.by_service):
        pipeline.join()  # a file can wait for the writer; a network sender would be told to retry
    report.requests[signal] += 1
    report.rejected_items += decoded.rejected
    report.items += kept
    file.requests += 1
    file.items += kept
    file.rejected += decoded.rejected
    if decoded.rejected:
        file.problem(f"{where}: {decoded.reason}")


def _skip(report: ConvertReport, file: FileReport, reason: str) -> None:
    report.bad_lines.append(reason)
    file.skipped_lines += 1
    file.problem(reason)


def _documents(path: Path) -> Iterator[tuple[int, str]]:
    """``(line or frame number, JSON text)`` of every request in ``path``, streamed."""
    with path.open("rb") as raw:
        head = raw.read(8)
    if head[:4] != _ZSTD and head[4:8] == _ZSTD:
        yield from _length_prefixed_zstd(path)
        return
    if head[:2] == _GZIP or head[:4] == _ZSTD:
        with _open_text(path, head) as lines:
            yield from ((number, line) for number, line in enumerate(lines, start=1) if line.strip())
        return
    yield from _json_lines(path)


def _json_lines(path: Path) -> Iterator[tuple[int, str]]:
    small = path.stat().st_size <= MAX_SINGLE_DOCUMENT_BYTES
    with path.open(encoding="utf-8-sig", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            if number == 1 and small and line.lstrip().startswith("{") and not _is_json(line):
                whole = path.read_text(encoding="utf-8-sig", errors="replace")  # one pretty-printed request?
                if _is_json(whole):
                    yield 1, whole
                    return
            yield number, line


def _open_text(path: Path, head: bytes) -> IO[str]:
    if head[:2] == _GZIP:
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace")
    stream = _zstd().ZstdDecompressor().stream_reader(path.open("rb"), closefd=True)
    return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace")


def _length_prefixed_zstd(path: Path) -> Iterator[tuple[int, str]]:
    """The file exporter's classic ``compression: zstd`` layout: [4-byte big-endian length][zstd frame]..."""
    decompressor = _zstd().ZstdDecompressor()
    with path.open("rb") as raw:
        for number in range(1, 1 << 62):
            prefix = raw.read(4)
            if not prefix:
                return
            size = int.from_bytes(prefix, "big")
            if len(prefix) < 4 or size > MAX_FRAME_BYTES:
                raise UnreadableFileError(f"{path}: request {number} has a broken length prefix")
            frame = raw.read(size)
            if len(frame) < size:
                raise UnreadableFileError(f"{path}: request {number} is cut short (the file ends inside it)")
            try:
                text = decompressor.decompress(frame, max_output_size=MAX_FRAME_BYTES).decode("utf-8-sig", "replace")
            except Exception as error:  # zstandard.ZstdError
                raise UnreadableFileError(f"{path}: request {number} is not zstd data ({error})") from None
            yield number, text


def _zstd() -> Any:
    try:
        import zstandard
    except ImportError:
        raise UnreadableFileError(
            "this file is zstd-compressed; install zstandard (pip install 'worldforge-otel[collector]') or "
            "decompress it first (zstd -d FILE)"
        ) from None
    return zstandard


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True
