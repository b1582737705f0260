"""Secret redaction and value cleaning: one pass per string, linear in its length whatever the input.

What is removed:

- URL userinfo (``https://user:pass@host``), query strings and fragments (signed URLs live there), and the
  paths of webhook URLs whose path is the credential (Slack, Discord, Telegram bots);
- values under keys that name a secret (:func:`is_secret_key`: ``authorization``, ``api_key``, ``token``,
  ``password``/``pwd``/``passcode``, ``secret``, ``signature``, ``cookie``, ``credential``, ``private_key``,
  ``session.id``, ``connection_string``, ``x-functions-key`` ...);
- inside free text: ``Bearer``/``Basic`` credentials, ``key=value`` / ``key: value`` / ``--key value`` secrets,
  cookie headers, PEM/OpenSSH private keys, JWTs and well-known key formats (AWS, GitHub, GitLab, Slack,
  Stripe, OpenAI, Anthropic, Google, Hugging Face, SendGrid, npm, PyPI, Twilio, Discord, Telegram ...).

How: strings without a secret marker (``=``, ``:``, ``--``, a run of 16 token characters, an auth scheme, a PEM
header) are returned after one cheap scan. The others go through one combined pattern whose every quantifier
is bounded, so no input makes it backtrack (a fuzz test holds 100 kB adversarial strings to milliseconds);
its branches start with a character class wherever they can, which ``re`` tests before entering a branch,
so a long run of word characters costs ~0.3 µs per character, not ~1.
Text is redacted *before* it is cut to length, so a secret cut at the limit cannot survive.

What is cleaned: strings that are not valid UTF-8, non-finite floats, bytes, deep or huge structures.
A string cut short ends with :data:`TRUNCATION_MARKER` and the number of characters dropped.
"""

from __future__ import annotations

import functools
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
LONGEST_SECRET_CHARS: Final = 16_384
"""Text past ``max_chars + LONGEST_SECRET_CHARS`` is dropped before redacting (a secret that long would be cut)."""
_CACHED_CHARS: Final = 256  # shorter strings are remembered (attribute values repeat: methods, routes, names)

# Keys whose value is a secret. Long names match anywhere in a key; short ones only as a whole word.
_LONG_KEYS: Final = (
    r"api[-_.]?key|apikey|access[-_.]?key|secret[-_.]?key|private[-_.]?key|account[-_.]?key"
    r"|shared[-_.]?access[-_.]?key|subscription[-_.]?key|functions[-_.]?key|master[-_.]?key|client[-_.]?secret"
    r"|secret|passw(?:or)?d|passphrase|passcode|token|credentials?|authori[sz]ation|cookie|signature"
    r"|session[-_.]?(?:id|key)|connection[-_.]?string|conn[-_.]?str|x[-_]amz[-_](?:security[-_]token|signature"
    r"|credential)|signed[-_.]?url|dsn"
)
_SHORT_KEYS: Final = r"pwd|pw|pass|auth|key|sig|sid|jwt|otp|pin"
_SECRET_KEY: Final = re.compile(
    rf"(?:{_LONG_KEYS})s?(?![a-z])|(?<![a-z0-9])(?:{_SHORT_KEYS})(?![a-z0-9])",
    re.IGNORECASE,
)
# Counts and kinds of tokens (``max_tokens``, ``gen_ai.usage.input_tokens``, ``token_type``) are not secrets.
_NOT_SECRET_KEY: Final = re.compile(r"tokens(?![a-z])|token[-_.]?(?:count|usage|limit|type|budget|ize)", re.IGNORECASE)


def _by_first_letter(alternatives: str) -> str:
    """The same alternatives, case-insensitive, grouped under their first letter written as a class (``[aA]``).

    Python's ``re`` skips a branch that starts with a character class not matching the current character
    without entering it, which it cannot do for a case-insensitive literal: at a position where no key starts,
    a dozen class tests replace forty failed branches.
    """
    depth, branches, current = 0, [], ""
    for char in alternatives:
        if char == "|" and depth == 0:
            branches.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    branches.append(current)
    groups: dict[str, list[str]] = {}
    for branch in branches:
        groups.setdefault(branch[0].lower(), []).append(branch[1:])
    return "(?:" + "|".join(f"[{first}{first.upper()}{_FOLDS.get(first, '')}](?i:{'|'.join(rests)})"
                            for first, rests in groups.items()) + ")"  # fmt: skip


_FOLDS: Final = {"s": "\u017f", "k": "\u212a"}  # what else (?i) matches: the long s and the Kelvin sign

# -- the one combined pattern (every quantifier bounded; alternatives tried in order at each position) -------
_VALUE: Final = (
    r"(?:(?i:bearer|basic|digest|token|negotiate)[ \t]{1,4})?"
    r"(?:\"[^\"\r\n]{0,4096}\"?|'[^'\r\n]{0,4096}'?|[^\s&,;\"'<>{}\[\]()]{1,4096})"
)
_PATTERNS: Final = (
    # a URL: sanitized by sanitize_url (userinfo, query and fragment dropped; webhook paths redacted)
    r"(?P<url>\b[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s\"'<>`]{1,8192})",
    # PEM / OpenSSH / PGP private keys, to their END line (or the end of the text, if cut)
    r"(?P<pem>-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
    r"[\s\S]*?(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|\Z))",
    # cookie headers: the whole rest of the line
    r"(?P<cookie>(?=[CcSs])(?i:(?:set-)?cookie)[\"']?[ \t]{0,3}[=:][ \t]{0,3})[^\r\n]{1,8192}",
    # command-line flags: --password X, --api-key=X
    rf"(?P<flag>--(?:[A-Za-z0-9]{{1,24}}-){{0,3}}(?i:{_LONG_KEYS}|{_SHORT_KEYS})(?:[ \t]{{1,3}}|=)){_VALUE}",
    # key=value, key: value, "key": "value"
    rf"(?P<kv>(?:{_by_first_letter(_LONG_KEYS)}|(?<![A-Za-z0-9]){_by_first_letter(_SHORT_KEYS)})"
    rf"(?i:[-_.](?:id|key|value|hash))?[\"']?[ \t]{{0,3}}[=:][ \t]{{0,3}}){_VALUE}",
    # Authorization schemes in free text
    r"(?P<scheme>\b(?:Bearer|bearer|BEARER|Basic|Digest|Negotiate)[ \t]{1,4})[A-Za-z0-9._~+/=-]{1,8192}",
    r"(?P<token_scheme>\b(?i:token)[ \t]{1,4})(?=[A-Za-z0-9._~+/=-]{16})[A-Za-z0-9._~+/=-]{16,8192}",
    # well-known key formats
    r"(?P<known>"
    r"\b(?=[AMNOSdeghknprswxy])(?:"  # one word-boundary check and one first-character test per position, not 26
    r"eyJ[A-Za-z0-9_-]{5,4096}\.[A-Za-z0-9_-]{5,4096}\.[A-Za-z0-9_-]{0,4096}"  # JWT
    r"|(?:sk|rk|pk)[-_][A-Za-z0-9_-]{16,512}"  # Stripe sk_live_/rk_live_, OpenAI sk-/sk-proj-, Anthropic sk-ant-
    r"|whsec_[A-Za-z0-9+/=_-]{16,512}"  # Stripe webhook secret
    r"|(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b"  # AWS access key ids
    r"|gh[pousr]_[A-Za-z0-9]{20,255}|github_pat_[A-Za-z0-9_]{20,255}"  # GitHub
    r"|glpat-[A-Za-z0-9_-]{20,255}|gl(?:rt|dt|ptt|cbt)-[A-Za-z0-9_-]{20,255}"  # GitLab
    r"|xox[abposre]-[A-Za-z0-9-]{10,255}|xapp-[A-Za-z0-9-]{10,255}"  # Slack
    r"|hf_[A-Za-z0-9]{20,255}"  # Hugging Face
    r"|AIza[0-9A-Za-z_-]{30,64}"  # Google API key
    r"|ya29\.[0-9A-Za-z_-]{20,2048}"  # Google OAuth access token
    r"|SG\.[A-Za-z0-9_-]{16,64}\.[A-Za-z0-9_-]{16,128}"  # SendGrid
    r"|npm_[A-Za-z0-9]{36}\b|pypi-[A-Za-z0-9_-]{50,512}"  # npm, PyPI
    r"|(?:SK|AC)[0-9a-f]{32}\b"  # Twilio
    r"|[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,64}"  # Discord bot token
    r"|AGE-SECRET-KEY-1[0-9A-Z]{58}"  # age
    r"|(?:shpat|shpss|shpca|dop_v1|doo_v1|sq0atp|sq0csp)_?[A-Za-z0-9_-]{20,128}"  # Shopify, DigitalOcean, Square
    r"|key-[0-9a-f]{32}\b"  # Mailgun
    r")"
    r"|(?<![0-9])[0-9]{8,10}:AA[A-Za-z0-9_-]{30,40}"  # Telegram bot token (also as /bot<token> in a URL path)
    r")"
)
_SECRETS: Final = re.compile("|".join(_PATTERNS))
_MARKERS: Final = r"[=:]|--|(?i:bearer|basic|digest|negotiate|token)[ \t]|-----BEGIN"  # what any secret needs
_MARKER: Final = re.compile(rf"{_MARKERS}|[A-Za-z0-9_\-.+/]{{16}}")
# In a URL path, a run of 16 token characters must lie between two '/' (paths are long runs of them), and
# whsec_ is the one key format with '/' among its characters.
_PATH_MARKER: Final = re.compile(rf"{_MARKERS}|[A-Za-z0-9_\-.+]{{16}}|whsec_")
_URL_IN_TEXT: Final = "://"
_LONE_URL: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s\"'<>`]{1,8192}")  # the url pattern, whole text
# scheme://host/path[?query][#fragment], lower case, no userinfo, port or whitespace: urlsplit would change nothing
_PLAIN_URL: Final = re.compile(r"(?P<base>[a-z][a-z0-9+.\-]{0,31}://(?P<host>[a-z0-9][a-z0-9.\-]{0,252}))"
                               r"(?P<path>/[^?#\s\x00-\x1f\x7f]*)?(?:[?#][^\s\x00-\x1f\x7f]*)?")  # fmt: skip
_WEBHOOK_HOSTS: Final = ("hooks.slack.com", "discord.com", "discordapp.com", "api.telegram.org", "webhook.office.com",
                         "outlook.office.com", "hooks.zapier.com")  # fmt: skip


def is_secret_key(key: str) -> bool:
    """Whether a mapping key (or attribute name) names a credential whose value must never be recorded."""
    return _is_secret_key(key) if len(key) <= _CACHED_CHARS else _is_secret_key.__wrapped__(key)


@functools.lru_cache(maxsize=4096)
def _is_secret_key(key: str) -> bool:
    return _SECRET_KEY.search(key) is not None and _NOT_SECRET_KEY.search(key) is None


def sanitize_url(url: str) -> str:
    """Drop userinfo, query string and fragment from a URL (and webhook paths); redact text that is not a URL."""
    if _URL_IN_TEXT not in url:
        return _redact(url)  # free text
    plain = _PLAIN_URL.fullmatch(url)
    if plain is not None:  # the common case, without urlsplit: the parts it would return (tested against it)
        return plain.group("base") + _clean_path(plain.group("host"), plain.group("path") or "")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # an unreadable host or port: what follows the scheme goes
        scheme, _ = url.split(_URL_IN_TEXT, 1)
        return f"{_redact(scheme)}{_URL_IN_TEXT}{REDACTED}"
    if not parts.scheme:  # text with a URL inside ("see https://..."): each URL is sanitized in the text
        return _redact(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, _clean_path(host, parts.path), "", ""))


def _clean_path(host: str, path: str) -> str:
    if path and host.endswith(_WEBHOOK_HOSTS):
        return "/" + REDACTED
    if path and _PATH_MARKER.search(path):
        return _SECRETS.sub(_replace_in_path, path)
    return path


def redact_text(text: str) -> str:
    """Redact credentials inside free text; one linear pass (see the module docstring)."""
    if len(text) <= _CACHED_CHARS:
        return _redact_cached(text)
    return _redact(text)


@functools.lru_cache(maxsize=8192)
def _redact_cached(text: str) -> str:
    return _redact(text)


def _redact(text: str) -> str:
    if _MARKER.search(text) is None:
        return text
    if _LONE_URL.fullmatch(text):  # what the combined pattern would find: one URL, the whole text
        return sanitize_url(text)
    return _SECRETS.sub(_replace, text)


def _replace(match: re.Match[str]) -> str:
    group = match.lastgroup
    if group == "url":
        return sanitize_url(match.group("url"))
    if group is not None and group not in ("pem", "known"):
        return match.group(group) + REDACTED  # the key, flag or scheme stays; its value goes
    return REDACTED


def _replace_in_path(match: re.Match[str]) -> str:
    return REDACTED if match.lastgroup != "url" else match.group(0)


def clean_text(text: str, *, max_chars: int = DEFAULT_MAX_STRING_CHARS) -> str:
    """Make ``text`` valid UTF-8, redact secrets in it, then cap its length with a visible marker."""
    if len(text) <= _CACHED_CHARS:
        return _clean_short(text, max_chars)
    return _clean(text, max_chars)


def clean_text_once(text: str, *, max_chars: int = DEFAULT_MAX_STRING_CHARS) -> str:
    """:func:`clean_text` without its cache, for callers that keep their own (or values that never repeat)."""
    return _clean(text, max_chars)


@functools.lru_cache(maxsize=8192)
def _clean_short(text: str, max_chars: int) -> str:
    return _clean(text, max_chars)


def _clean(text: str, max_chars: int) -> str:
    original_chars = len(text)
    if original_chars > max_chars + LONGEST_SECRET_CHARS:
        text = text[: max_chars + LONGEST_SECRET_CHARS]
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates, e.g. from surrogateescape-decoded bytes
            text = text.encode("utf-8", "replace").decode("utf-8")
    return truncate(_redact(text), max_chars, original_chars=original_chars)


def truncate(text: str, max_chars: int, *, original_chars: int | None = None) -> str:
    """``text`` cut to ``max_chars`` with :data:`TRUNCATION_MARKER` (counting from ``original_chars`` if longer)."""
    if len(text) <= max_chars:
        return text
    dropped = max((original_chars or len(text)) - max_chars, 1)
    return text[:max_chars] + TRUNCATION_MARKER.format(dropped=dropped)


def clean_key(key: object) -> str:
    """A mapping key or attribute name as clean text of at most 256 characters."""
    return clean_text(key if isinstance(key, str) else str(key), max_chars=256)


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
            name = clean_key(key)
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
