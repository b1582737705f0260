"""Rows gathered per entity path, so a whole export batch is written with one ``send_columns`` per path."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum


class ColumnKind(Enum):
    """The Rerun archetype a column group is written as."""

    TEXT_LOG = "TextLog"
    DOCUMENT = "TextDocument"
    SCALAR = "Scalars"


@dataclass(slots=True)
class ColumnGroup:
    """All rows of one entity path and archetype within one batch."""

    path: str
    kind: ColumnKind
    times_ns: list[int] = field(default_factory=list)
    sequences: list[int] | None = None
    values: list[str | float] = field(default_factory=list)
    levels: list[str] = field(default_factory=list)


class ColumnBatch:
    """Collects rows; a row's timeline values are the wall time and, optionally, the event sequence."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, ColumnKind, bool], ColumnGroup] = {}
        self.rows = 0

    def text_log(self, path: str, text: str, *, level: str, time_ns: int, sequence: int | None = None) -> None:
        """Add a TextLog row."""
        group = self._group(path, ColumnKind.TEXT_LOG, time_ns, sequence)
        group.values.append(text)
        group.levels.append(level)

    def document(self, path: str, text: str, *, time_ns: int, sequence: int | None = None) -> None:
        """Add a TextDocument row."""
        self._group(path, ColumnKind.DOCUMENT, time_ns, sequence).values.append(text)

    def scalar(self, path: str, value: float, *, time_ns: int, sequence: int | None = None) -> None:
        """Add a scalar row."""
        self._group(path, ColumnKind.SCALAR, time_ns, sequence).values.append(float(value))

    def __iter__(self) -> Iterator[ColumnGroup]:
        return iter(self._groups.values())

    def _group(self, path: str, kind: ColumnKind, time_ns: int, sequence: int | None) -> ColumnGroup:
        key = (path, kind, sequence is not None)
        group = self._groups.get(key)
        if group is None:
            group = ColumnGroup(path, kind, sequences=[] if sequence is not None else None)
            self._groups[key] = group
        group.times_ns.append(time_ns)
        if group.sequences is not None and sequence is not None:
            group.sequences.append(sequence)
        self.rows += 1
        return group
