"""Rows gathered per entity path, so a whole export batch is written with one ``send_columns`` per path.

Text, documents and scalars are columns. 3D/2D artifacts (points, boxes, line strips, bar charts, images)
are rare and carry several instances per row, so they are kept as :class:`ShapeRow` and logged one by one.
Both are plain data here; only the sink turns them into rerun-sdk archetypes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from worldforge_otel.rerun.layout import EVENT_TIMELINE


class ColumnKind(Enum):
    """The Rerun archetype a column group is written as."""

    TEXT_LOG = "TextLog"
    DOCUMENT = "TextDocument"
    SCALAR = "Scalars"
    STATE = "StateChange"  # rerun-sdk >= 0.32; a sink without it leaves these groups out


class ShapeKind(Enum):
    """The Rerun archetype of a :class:`ShapeRow`."""

    POINTS3D = "Points3D"
    BOXES3D = "Boxes3D"
    LINE_STRIPS3D = "LineStrips3D"
    BOXES2D = "Boxes2D"
    LINE_STRIPS2D = "LineStrips2D"
    POINTS2D = "Points2D"
    BAR_CHART = "BarChart"
    ENCODED_IMAGE = "EncodedImage"


@dataclass(slots=True)
class ColumnGroup:
    """All rows of one entity path and archetype within one batch."""

    path: str
    kind: ColumnKind
    times_ns: list[int] = field(default_factory=list)
    sequences: list[int] | None = None
    values: list[str | float] = field(default_factory=list)
    levels: list[str] = field(default_factory=list)
    sequence_timeline: str = EVENT_TIMELINE
    attributes: list[dict[str, object]] | None = None  # per row: more components on the same entity (AnyValues)

    def add(self, time_ns: int, sequence: int | None, value: str | float, level: str | None = None) -> None:
        """Append one row (a columnar translator keeps the group and calls this per row: no lookup per row)."""
        self.times_ns.append(time_ns)
        if self.sequences is not None and sequence is not None:
            self.sequences.append(sequence)
        self.values.append(value)
        if level is not None:
            self.levels.append(level)

    def add_attributes(self, values: dict[str, object]) -> None:
        """Attach ``values`` (attribute name -> text, number or bool) to the row just added."""
        if self.attributes is None:
            self.attributes = [{} for _ in range(len(self.times_ns) - 1)]
        self.attributes.append(values)

    def attribute_columns(self) -> dict[str, tuple[str | None, list[object]]]:
        """One column per attribute name: its kind, and a value or None for every row.

        The kind is ``text``, ``number`` or ``bool`` (None when no row has a value). A name whose values are of
        several kinds is written as text throughout (a component has one type).
        """
        rows = self.attributes or []
        rows = rows + [{}] * (len(self.times_ns) - len(rows))
        names = sorted({name for row in rows for name in row})
        columns: dict[str, tuple[str | None, list[object]]] = {}
        for name in names:
            values = [row.get(name) for row in rows]
            kinds = {_KINDS.get(type(value), "text") for value in values if value is not None}
            kind = next(iter(kinds)) if len(kinds) == 1 else "text" if kinds else None
            if kind == "number":
                values = [None if value is None else float(value) for value in values]  # type: ignore[arg-type]
            elif len(kinds) > 1:
                values = [None if value is None else str(value) for value in values]
            columns[name] = (kind, values)
        return columns


_KINDS: Final = {bool: "bool", int: "number", float: "number", str: "text"}


@dataclass(frozen=True, slots=True)
class ShapeRow:
    """One row of a multi-instance archetype: ``fields`` are its keyword arguments (lists of numbers/strings)."""

    path: str
    kind: ShapeKind
    fields: dict[str, Any]
    time_ns: int
    sequences: dict[str, int] = field(default_factory=dict)


class ColumnBatch:
    """Collects rows; a row's timeline values are the wall time and, optionally, one sequence timeline."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, ColumnKind, str | None], ColumnGroup] = {}
        self.shapes: list[ShapeRow] = []
        self.benchmark_charts: list[str] = []  # paths of benchmark latency bars written (the layout shows each)

    def text_log(
        self,
        path: str,
        text: str,
        *,
        level: str,
        time_ns: int,
        sequence: int | None = None,
        timeline: str = EVENT_TIMELINE,
    ) -> None:
        """Add a TextLog row."""
        self._group(path, ColumnKind.TEXT_LOG, sequence, timeline).add(time_ns, sequence, text, level)

    def document(
        self, path: str, text: str, *, time_ns: int, sequence: int | None = None, timeline: str = EVENT_TIMELINE
    ) -> None:
        """Add a TextDocument row."""
        self._group(path, ColumnKind.DOCUMENT, sequence, timeline).add(time_ns, sequence, text)

    def scalar(
        self, path: str, value: float, *, time_ns: int, sequence: int | None = None, timeline: str = EVENT_TIMELINE
    ) -> None:
        """Add a scalar row."""
        self._group(path, ColumnKind.SCALAR, sequence, timeline).add(time_ns, sequence, float(value))

    def shape(
        self, path: str, kind: ShapeKind, *, time_ns: int, sequences: dict[str, int] | None = None, **fields: Any
    ) -> None:
        """Add a multi-instance archetype row (e.g. ``positions=[[x, y, z], ...], labels=[...]``)."""
        self.shapes.append(ShapeRow(path, kind, fields, time_ns, dict(sequences or {})))

    def group(self, path: str, kind: ColumnKind, sequence_timeline: str | None = None) -> ColumnGroup:
        """The column group of ``path`` and ``kind`` (rows with a sequence on ``sequence_timeline``, if given)."""
        key = (path, kind, sequence_timeline)
        group = self._groups.get(key)
        if group is None:
            group = ColumnGroup(path, kind, sequences=[] if sequence_timeline is not None else None,
                                sequence_timeline=sequence_timeline or EVENT_TIMELINE)  # fmt: skip
            self._groups[key] = group
        return group

    def __iter__(self) -> Iterator[ColumnGroup]:
        return (group for group in self._groups.values() if group.times_ns)

    def _group(self, path: str, kind: ColumnKind, sequence: int | None, timeline: str) -> ColumnGroup:
        return self.group(path, kind, timeline if sequence is not None else None)


def triples(values: object) -> list[list[float]]:
    """``[x, y, z, x, y, z, ...]`` (a flat span attribute) as a list of points; a trailing partial point is dropped."""
    if not isinstance(values, Sequence) or isinstance(values, str):
        return []
    flat = [float(v) for v in values]
    return [flat[i : i + 3] for i in range(0, len(flat) - len(flat) % 3, 3)]
