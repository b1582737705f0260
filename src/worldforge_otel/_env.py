"""Reading environment variables the OTel way: a bad value is reported once, by name with the fix, and ignored."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping
from typing import TypeVar
from urllib.parse import urlsplit

from worldforge_otel._fork import ForkSafeLock

_LOG = logging.getLogger("worldforge_otel")
_T = TypeVar("_T")

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})
RERUN_URL_SCHEMES = ("rerun", "rerun+http", "rerun+https")

_reported: set[tuple[str, str]] = set()
_reported_lock = ForkSafeLock()


class BadValueError(ValueError):
    """A setting's value cannot be used; the message says what is expected."""


def report_bad_value(variable: str, value: str, problem: str, consequence: str) -> None:
    """Log one line naming the variable, its value and the fix; each (variable, value) only once per process."""
    with _reported_lock:
        if (variable, value) in _reported:
            return
        _reported.add((variable, value))
    _LOG.error("worldforge_otel: %s=%r %s; %s", variable, value, problem, consequence)


def read(
    variable: str,
    parse: Callable[[str], _T],
    *,
    consequence: str,
    environ: Mapping[str, str] | None = None,
) -> _T | None:
    """The parsed value of ``variable``, or None when unset, empty or bad (bad values are reported)."""
    raw = (os.environ if environ is None else environ).get(variable)
    if raw is None or not raw.strip():
        return None
    try:
        return parse(raw.strip())
    except BadValueError as error:
        report_bad_value(variable, raw, str(error), consequence)
        return None


def parse_bool(text: str) -> bool:
    """``true/false``, ``1/0``, ``yes/no``, ``on/off`` in any case."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise BadValueError("is not a boolean; set it to true or false")


def parse_port(text: str) -> int:
    """A TCP port number, 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise BadValueError("is not a TCP port; set a number from 1 to 65535")
    return port


def parse_seconds(text: str) -> float:
    """A finite, non-negative number of seconds."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise BadValueError("is not a number of seconds; set a non-negative number such as 5")
    return seconds


def parse_rerun_url(text: str) -> str:
    """A viewer URL such as ``rerun+http://127.0.0.1:9876/proxy``."""
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in RERUN_URL_SCHEMES or not parts.hostname:
        raise BadValueError(
            "is not a Rerun URL; use rerun+http://HOST:PORT/proxy (e.g. rerun+http://127.0.0.1:9876/proxy)"
        )
    return text


def parse_text(text: str) -> str:
    """Any non-empty text, stripped."""
    return text.strip()


def sdk_disabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``OTEL_SDK_DISABLED`` turns the SDK (and so our exporters) off."""
    return (
        read(
            "OTEL_SDK_DISABLED",
            parse_bool,
            consequence="treating the SDK as enabled",
            environ=environ,
        )
        is True
    )
