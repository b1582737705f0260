"""OTLP/JSON files -> Rerun: what ``worldforge-otel convert`` reads.

The OpenTelemetry Collector's file exporter writes one OTLP/JSON request per line (``{"resourceSpans": ...}``,
``{"resourceMetrics": ...}`` or ``{"resourceLogs": ...}``); a file holding a single pretty-printed request
is read too. Each request goes through the same decoding and pipeline as a received one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from worldforge_otel.collector.decode import SIGNALS, Decoded, MalformedRequestError, from_json_document
from worldforge_otel.collector.pipeline import Pipeline

_LOG = logging.getLogger("worldforge_otel.collector")
_KEYS: Final = {"resourceSpans": "traces", "resourceMetrics": "metrics", "resourceLogs": "logs"}
MAX_SINGLE_DOCUMENT_BYTES: Final = 256 * 1024 * 1024  # a file that is one (pretty-printed) request is read whole


@dataclass
class ConvertReport:
    """What a conversion read: requests per signal, items rejected inside them, lines that were not OTLP."""

    requests: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SIGNALS, 0))
    rejected_items: int = 0
    bad_lines: list[str] = field(default_factory=list)  # "file:line: reason"


def _documents(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, JSON text)`` of every request, streaming the lines of a JSON-lines file."""
    small = path.stat().st_size <= MAX_SINGLE_DOCUMENT_BYTES
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            if number == 1 and small and line.lstrip().startswith("{") and not _is_json(line):
                whole = path.read_text(encoding="utf-8", errors="replace")  # one pretty-printed request?
                if _is_json(whole):
                    yield 1, whole
                    return
            yield number, line


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def convert_files(paths: list[Path], pipeline: Pipeline) -> ConvertReport:
    """Feed every request in ``paths`` to ``pipeline`` (waiting for room, never refusing); returns the report."""
    report = ConvertReport()
    for path in paths:
        for number, line in _documents(path):
            try:
                document = json.loads(line)
                keys = document.keys() & _KEYS.keys()
            except (ValueError, AttributeError) as error:
                report.bad_lines.append(f"{path}:{number}: not a JSON object ({error})")
                continue
            if len(keys) != 1:
                report.bad_lines.append(f"{path}:{number}: expected one of {', '.join(_KEYS)}")
                continue
            signal = _KEYS[keys.pop()]
            request_type, decode, _ = SIGNALS[signal]
            try:
                decoded: Decoded[object] = decode(from_json_document(document, request_type))
            except MalformedRequestError as error:
                report.bad_lines.append(f"{path}:{number}: {error}")
                continue
            while not pipeline.submit(signal, decoded.by_service):
                pipeline.join()  # a file can wait for the writer; a network sender would be told to retry
            report.requests[signal] += 1
            report.rejected_items += decoded.rejected
    for line in report.bad_lines[:20]:
        _LOG.warning("worldforge_otel convert: skipped %s", line)
    return report
