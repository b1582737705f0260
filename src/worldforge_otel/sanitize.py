"""Secret redaction and value cleaning, applied before anything reaches a span, a metric or Rerun.

What is removed:

- URL userinfo (``https://user:pass@host``), query strings and fragments (signed URLs live there);
- values under keys that name a secret (``authorization``, ``api_key``, ``token``, ``password``,
  ``secret``, ``signature``, ``signed_url``, ``cookie``, ``credential``, ``private_key`` ...);
- ``Bearer``/``Basic`` credentials, ``key=value`` secrets, JWTs and well-known key formats inside free text.

What is cleaned: strings that are not valid UTF-8, non-finite floats, bytes, deep or huge structures.
A string cut short ends with :data:`TRUNCATION_MARKER` and the number of characters dropped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Final, TypeAlias
from urllib.parse import urlsplit, urlunsplit

JSONValue: TypeAlias = "str | int | float | bool | list[JSONValue] | dict[str, JSONValue] | None"

REDACTED: Final = "[REDACTED]"
TRUNCATION_MARKER: Final = "…[truncated {dropped} chars]"
DEFAULT_MAX_STRING_CHARS: Final = 4096
MAX_DEPTH: Final = 8
MAX_ITEMS: Final = 256

_SECRET_KEY = re.compile(
    r"authorization|api[-_]?key|apikey|access[-_]?key|private[-_]?key|client[-_]?secret|secret"
    r"|passw(?:or)?d|passphrase|token(?!s)|signature|signed[-_]?url|credential|cookie|session[-_]?id"
    r"|x[-_]amz[-_]|sig$",
    re.IGNORECASE,
)
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")
_AUTH_SCHEME = re.compile(r"\b(Bearer|Basic|Token|Digest)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_KEY_VALUE = re.compile(
    r"\b((?:[A-Za-z0-9]+[-_])*(?:api[-_]?key|apikey|access[-_]?key|token|password|passwd|secret"
    r"|signature|sig|auth|authorization|credential)s?)([\"']?\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s&,;\"']+)",
    re.IGNORECASE,
)
_KNOWN_SECRET_FORMATS = re.compile(
    r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"  # JWT
    r"|\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}"  # OpenAI/Stripe style keys
    r"|\bAKIA[0-9A-Z]{16}\b"  # AWS access key id
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}"  # GitHub tokens
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"  # Slack tokens
    r"|\bhf_[A-Za-z0-9]{20,}"  # Hugging Face tokens
)


def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a credential whose value must never be recorded."""
    return _SECRET_KEY.search(key) is not None


def sanitize_url(url: str) -> str:
    """Drop userinfo, query string and fragment from a URL; redact free text that is not a URL."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if not parts.scheme or not parts.netloc:
        return redact_text(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def redact_text(text: str) -> str:
    """Redact credentials inside free text: URLs, auth headers, ``key=value`` pairs, known key formats."""
    if "://" in text:
        text = _URL.sub(lambda match: sanitize_url(match.group(0)), text)
    text = _AUTH_SCHEME.sub(lambda match: f"{match.group(1)} {REDACTED}", text)
    text = _KEY_VALUE.sub(lambda match: f"{match.group(1)}{match.group(2)}{REDACTED}", text)
    return _KNOWN_SECRET_FORMATS.sub(REDACTED, text)


def clean_text(text: str, *, max_chars: int = DEFAULT_MAX_STRING_CHARS) -> str:
    """Make ``text`` valid UTF-8, cap its length with a visible marker, and redact secrets in it."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates, e.g. from surrogateescape-decoded bytes
            text = text.encode("utf-8", "replace").decode("utf-8")
    if len(text) > max_chars:
        dropped = len(text) - max_chars
        text = text[:max_chars] + TRUNCATION_MARKER.format(dropped=dropped)
    return redact_text(text)


def sanitize_value(  # noqa: PLR0911  # one return per kind of value
    value: object, *, max_chars: int = DEFAULT_MAX_STRING_CHARS, _depth: int = 0
) -> JSONValue:
    """Turn any value into sanitized, JSON-safe data.

    Mappings keep their (string) keys with secret values redacted; sequences are capped at
    :data:`MAX_ITEMS`; bytes become a size note; NaN and infinities become strings; anything else
    becomes its ``repr``. Structures deeper than :data:`MAX_DEPTH` are summarized.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return clean_text(value, max_chars=max_chars)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if _depth >= MAX_DEPTH:
        return f"<{type(value).__name__} nested deeper than {MAX_DEPTH}>"
    if isinstance(value, Mapping):
        result: dict[str, JSONValue] = {}
        for index, (key, item) in enumerate(value.items()):
            if index >= MAX_ITEMS:
                result["_truncated_items"] = len(value) - MAX_ITEMS
                break
            name = clean_text(str(key), max_chars=256)
            result[name] = (
                REDACTED if is_secret_key(name) else sanitize_value(item, max_chars=max_chars, _depth=_depth + 1)
            )
        return result
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        cleaned = [sanitize_value(item, max_chars=max_chars, _depth=_depth + 1) for item in items[:MAX_ITEMS]]
        if len(items) > MAX_ITEMS:
            cleaned.append(f"<{len(items) - MAX_ITEMS} more items>")
        return cleaned
    return clean_text(repr(value), max_chars=max_chars)
