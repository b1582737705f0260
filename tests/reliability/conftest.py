"""The fault matrix records what each fault did; ``WORLDFORGE_OTEL_RELIABILITY_REPORT=docs/reliability.md``
writes the table (the committed docs/reliability.md was written that way)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import pytest

ROWS: list[dict] = []


@pytest.fixture
def report(request):
    """``report(events_in=..., events_out=..., dropped=..., note=...)`` adds this test's row."""

    def add(*, events_in: int, events_out: int, dropped: int, exceptions: int = 0, note: str = "") -> None:
        ROWS.append({"fault": request.node.name, "in": events_in, "out": events_out, "dropped": dropped,
                     "exceptions": exceptions, "note": note})

    return add


def pytest_sessionfinish(session, exitstatus):
    target = os.environ.get("WORLDFORGE_OTEL_RELIABILITY_REPORT")
    if not target or not ROWS:
        return
    import rerun

    lines = [
        "# Reliability: the fault matrix",
        "",
        "Written by `WORLDFORGE_OTEL_RELIABILITY_REPORT=docs/reliability.md python -m pytest tests/reliability` "
        f"(Python {platform.python_version()}, rerun-sdk {rerun.__version__}). Every row is a test in "
        "`tests/reliability/` that injects the fault into a real exporter/recording and asserts the outcome: the "
        "host keeps running, no exception reaches it, accepted data is not lost where the sink can recover, and "
        "drops are counted.",
        "",
        "| fault (test) | events in | exported | dropped | exceptions in the host | what happened |",
        "|---|---|---|---|---|---|",
    ]
    for row in ROWS:
        lines.append(f"| `{row['fault']}` | {row['in']:,} | {row['out']:,} | {row['dropped']:,} | {row['exceptions']} "
                     f"| {row['note']} |")
    lines.append("")
    Path(target).write_text("\n".join(lines), encoding="utf-8")
