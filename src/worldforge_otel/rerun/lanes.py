"""Spans as lanes on the time panel's clock: one ``StateChange`` lane per service and span name.

``otel/lanes/<service>/<span name>`` gets a state when a span of that name starts (``ok``, ``retry`` for a
provider retry, ``error`` for a failure or status ERROR) and a reset (a gap) when the last overlapping one
ends, at the spans' own start and end times on
``worldforge_time``. A ``StateTimelineView`` (rerun-sdk >= 0.32) draws them as coloured lanes in sync with
the 3D view: the time cursor on a step shows which calls were in flight. Older rerun-sdk has no lanes (the
trace waterfall still draws every trace).

Lanes overlap within one export batch as they should (a lane stays on until its last span ends). Spans of one
name that overlap across two batches are rare (spans arrive as they end) and may end the lane early.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from worldforge_otel.rerun.columns import ColumnBatch, ColumnKind
from worldforge_otel.rerun.layout import LANES_ROOT, path_part

STATES: Final = ("ok", "retry", "error")
STATE_COLORS: Final = ((70, 170, 110), (240, 170, 40), (230, 60, 60))  # as the waterfall's bars: green, amber, red
RESET: Final = ""  # a gap in the lane
PHASE_STATES: Final = {"failure": "error", "retry": "retry"}  # a provider event's phase -> its state; else ok


def lane_path(service: str, lane: str) -> str:
    """Path of one lane: a service's spans of one name (``lane`` is already one path segment)."""
    return f"{LANES_ROOT}/{path_part(service)}/{lane}"


Transition = tuple[str, int | None, int | None, str]
"""A span on its lane: (lane path, start ns, end ns, state)."""


def add_lanes(batch: ColumnBatch, spans: Iterable[Transition]) -> None:
    """Add the state changes of spans on their lanes: a state at each start, a reset when a lane empties.

    The transitions of each lane are sorted by time; at equal times an end comes before a start, so
    back-to-back calls show as two states, not one merged lane.
    """
    transitions: dict[str, list[tuple[int, int, str]]] = {}
    for path, start, end, state in spans:
        if start is None or end is None:
            continue
        moves = transitions.get(path)
        if moves is None:
            moves = transitions[path] = []
        moves.append((start, 1, state))
        moves.append((end if end > start else start, 0, RESET))
    for path, moves in transitions.items():
        group = batch.group(path, ColumnKind.STATE)
        in_flight = 0
        moves.sort()
        for time_ns, starts, state in moves:
            if starts:
                in_flight += 1
                group.add(time_ns, None, state)
            else:
                in_flight -= 1
                if in_flight <= 0:
                    in_flight = 0
                    group.add(time_ns, None, RESET)
