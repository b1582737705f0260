"""JSON documents for Rerun ``TextDocument`` rows: readable (indented) and fast (orjson, the stdlib as fallback)."""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - orjson comes with the rerun extra
    orjson = None  # type: ignore[assignment]

_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS if orjson is not None else 0


def to_json_document(value: Any) -> str:
    """``value`` as indented JSON text; values JSON cannot hold become their ``str``."""
    if orjson is not None:
        try:
            return orjson.dumps(value, option=_OPTIONS, default=str).decode()
        except (TypeError, orjson.JSONEncodeError):  # e.g. an int beyond 64 bits
            pass
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def to_json_text(value: Any) -> str:
    """``value`` as compact one-line JSON (a cell of a table); values JSON cannot hold become their ``str``."""
    if orjson is not None:
        try:
            return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
        except (TypeError, orjson.JSONEncodeError):
            pass
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
