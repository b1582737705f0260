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

from worldforge_otel.collector.decode import SIGNALS, Decoded, MalformedRequestError, parse_json
from worldforge_otel.collector.pipeline import Pipeline

_LOG = logging.getLogger("worldforge_otel.collector")
_KEYS: Final = {"resourceSpans": "traces", "resourceMetrics": "metrics", "resourceLogs": "logs"}


@dataclass
class ConvertReport:
    """What a conversion read: requests per signal, items rejected inside them, lines that were not OTLP."""

    requests: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SIGNALS, 0))
    rejected_items: int = 0
    bad_lines: list[str] = field(default_factory=list)  # "file:line: reason"


def _documents(path: Path) -> Iterator[tuple[int, str]]:
    text = path.read_text(encoding="utf-8", errors="replace")
    stripped = text.strip()
    if stripped.startswith("{") and "\n" in stripped:
        try:
            json.loads(stripped)
        except ValueError:
            pass  # JSON lines, not one document
        else:
            yield 1, stripped
            return
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line


def convert_files(paths: list[Path], pipeline: Pipeline) -> ConvertReport:
    """Feed every request in ``paths`` to ``pipeline`` (waiting for room, never refusing); returns the report."""
    report = ConvertReport()
    for path in paths:
        for number, line in _documents(path):
            try:
                keys = json.loads(line).keys() & _KEYS.keys()
            except (ValueError, AttributeError) as error:
                report.bad_lines.append(f"{path}:{number}: not a JSON object ({error})")
                continue
            if len(keys) != 1:
                report.bad_lines.append(f"{path}:{number}: expected one of {', '.join(_KEYS)}")
                continue
            signal = _KEYS[keys.pop()]
            request_type, decode, _ = SIGNALS[signal]
            try:
                decoded: Decoded[object] = decode(parse_json(line, request_type))
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
