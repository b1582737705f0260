"""Benchmarks write their own section of a markdown file, between markers, leaving the rest of it alone."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def write_section(output: Path, section: str, *, start: str, end: str, first_time_at_top: bool) -> None:
    """Replace the text between ``start`` and ``end`` in ``output`` with ``section`` (which holds both markers).

    The first time, the section goes after the file's title (``first_time_at_top``) or at its end.
    """
    text = output.read_text(encoding="utf-8") if output.exists() else "# Performance\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    elif first_time_at_top:
        title, _, rest = text.partition("\n")
        text = f"{title}\n\n{section}\n{rest}"
    else:
        text = f"{text.rstrip()}\n\n{section}\n"
    output.write_text(text, encoding="utf-8")


def raw_numbers(results: Any) -> list[str]:
    """The results as an indented JSON block, the end of every section."""
    return ["```json", json.dumps(results, indent=2), "```"]


def parser_for(doc: str | None, *, events: int, runs: int = 3) -> argparse.ArgumentParser:
    """The arguments the side-by-side benchmarks share: ``--events``, ``--runs`` and ``--output``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=events)
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--output", type=Path, help="write the section of this markdown file (docs/performance.md)")
    return parser
