from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import pytest

from worldforge_otel.demo import DemoEvent
from worldforge_otel.events import EVENT_FIELDS, EventRecord
from worldforge_otel.sanitize import REDACTED, clean_text, redact_text, sanitize_url, sanitize_value

SECRETS = [
    "sk-live1234567890abcdefXYZ",
    "hunter2pass",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcDEF123",
    "AKIAABCDEFGHIJKLMNOP",
    "ghp_abcdefghijklmnopqrstuvwxyz0123",
    "sigvalue999",
]


def test_url_userinfo_query_and_fragment_are_stripped():
    assert sanitize_url("https://user:pw@api.example.com:8443/v1/run?sig=abc&x=1#frag") == (
        "https://api.example.com:8443/v1/run"
    )
    assert sanitize_url("not a url Bearer abc") == f"not a url Bearer {REDACTED}"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h:99999/x?token=zz", "http://[REDACTED]"),  # an unreadable port: nothing after the scheme
        ("pw=hunter2 see http://[bad/x", "pw=[REDACTED] see http://[REDACTED]"),
        ("file:///etc/app.conf?key=zz", "file:///etc/app.conf"),  # no host: path kept, query dropped
        ("see https://x.example/a?token=zz now", "see https://x.example/a now"),  # a URL inside text
    ],
)
def test_urls_that_do_not_parse_or_sit_in_text_are_sanitized(url, expected):
    assert sanitize_url(url) == expected


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("Authorization: Bearer sk-live1234567890abcdefXYZ", "sk-live1234567890abcdefXYZ"),
        ("call failed api_key=hunter2pass&x=1", "hunter2pass"),
        ('{"password": "hunter2pass"}', "hunter2pass"),
        ("see https://bucket.s3.amazonaws.com/obj?X-Amz-Signature=sigvalue999 now", "sigvalue999"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcDEF123", "eyJzdWIiOiIxMjM0NTY3ODkwIn0"),
        ("key AKIAABCDEFGHIJKLMNOP leaked", "AKIAABCDEFGHIJKLMNOP"),
        ("gh ghp_abcdefghijklmnopqrstuvwxyz0123", "ghp_abcdefghijklmnopqrstuvwxyz0123"),
    ],
)
def test_secrets_inside_free_text_are_redacted(text, leaked):
    cleaned = redact_text(text)
    assert leaked not in cleaned
    assert REDACTED in cleaned or "?" not in cleaned


def test_secret_keys_are_redacted_at_any_depth_and_counts_kept():
    value = sanitize_value(
        {"api_key": "a", "nested": {"Authorization": "b", "client_secret": "c", "deep": {"signed_url": "d"}},
         "max_tokens": 128, "steps": 3}
    )
    assert value == {
        "api_key": REDACTED,
        "nested": {"Authorization": REDACTED, "client_secret": REDACTED, "deep": {"signed_url": REDACTED}},
        "max_tokens": 128,
        "steps": 3,
    }


def test_hostile_values_become_json_safe():
    value = sanitize_value({"nan": math.nan, "inf": -math.inf, "raw": b"\x89PNG", "set": {1}, "obj": object()})
    assert value["nan"] == "nan" and value["inf"] == "-inf"
    assert value["raw"] == "<4 bytes>"
    assert value["set"] == [1]
    assert value["obj"].startswith("<object object")


def test_non_utf8_and_huge_strings_are_cleaned_with_a_marker():
    bad = b"caf\xff".decode("utf-8", "surrogateescape")
    assert clean_text(bad).encode("utf-8")  # no UnicodeEncodeError
    huge = clean_text("x" * 1_000_000, max_chars=100)
    assert len(huge) < 200 and huge.endswith("[truncated 999900 chars]")


def test_event_record_from_any_shape_never_raises():
    record = EventRecord.from_event(object())
    assert (record.provider, record.operation, record.phase, record.attempt) == ("unknown", "unknown", "unknown", 1)
    record = EventRecord.from_event(
        {"provider": b"mo\xffck", "operation": "predict", "phase": "SUCCESS", "attempt": "x", "max_attempts": -2,
         "duration_ms": math.nan, "status_code": 999, "metadata": "not a dict", "message": None}
    )
    assert record.phase == "success" and record.attempt == 1 and record.max_attempts == 1
    assert record.duration_ms is None and record.status_code is None
    assert record.metadata == {"value": "not a dict"}
    assert record.provider.startswith("mo")


def test_every_event_field_lands_in_its_own_record_field():
    """A snapshot is read by position: EVENT_FIELDS' order must stay EventRecord's, for every shape of event."""
    assert tuple(f.name for f in dataclasses.fields(EventRecord)) == EVENT_FIELDS
    fields = {"provider": "prov", "operation": "oper", "phase": "retry", "attempt": 2, "max_attempts": 5,
              "method": "PATCH", "target": "https://t.example/x", "status_code": 418, "duration_ms": 12.5,
              "message": "msg", "metadata": {"k": "v"}}  # fmt: skip
    assert tuple(fields) == EVENT_FIELDS
    expected = EventRecord(**fields)
    assert EventRecord.from_event(fields) == expected
    assert EventRecord.from_event(DemoEvent(**fields)) == expected
    assert EventRecord.from_event(SimpleNamespace(**fields)) == expected


@pytest.mark.parametrize("secret", SECRETS)
def test_event_record_carries_no_planted_secret(secret):
    record = EventRecord.from_event(
        {"provider": "p", "operation": "generate", "phase": "failure",
         "target": f"https://u:{secret}@h.example/x?token={secret}",
         "message": f"failed with Authorization: Bearer {secret} and password={secret}",
         "metadata": {"token": secret, "headers": {"x-api-key": secret}, "note": f"signature={secret}"}}
    )
    assert secret not in repr(record)


def test_the_plain_url_fast_path_returns_what_urlsplit_would(monkeypatch):
    """sanitize_url skips urlsplit for plain URLs; on mutated URLs of every kind both paths must agree."""
    import random

    from worldforge_otel import sanitize

    seeds = ["https://api.example.com/v1/items/42?page=3", "http://h/p#frag", "https://hooks.slack.com/services/T/B/X",
             "https://api.example.com/token=abc", "s3://bucket/key", "https://EXAMPLE.com/a", "https://h:8080/a",
             "https://u:p@h/a", "https://h/a b", "ftp://h", "https://h?x=1", "https://h/%2F?q", "https://h/p?q\n",
             "https://api.telegram.org/bot123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/sendMessage"]  # fmt: skip
    rng = random.Random(7)
    cases = list(seeds)
    for _ in range(4000):
        chars = list(rng.choice(seeds))
        for _ in range(rng.randrange(1, 4)):
            chars.insert(rng.randrange(len(chars) + 1), rng.choice("aZ09:/@?#=&%.-_~+ \t\n[]!$'"))
        cases.append("".join(chars))
    fast = {url: sanitize_url(url) for url in cases}
    assert sum(1 for url in cases if sanitize._PLAIN_URL.fullmatch(url)) > 500  # the fast path is really taken

    class NeverPlain:
        @staticmethod
        def fullmatch(url):
            return None

    monkeypatch.setattr(sanitize, "_PLAIN_URL", NeverPlain)
    assert {url: sanitize_url(url) for url in cases} == fast


def test_secret_key_names_grouped_by_first_letter_match_exactly_what_the_plain_pattern_matches():
    """The grouping that lets ``re`` skip branches (sanitize._by_first_letter) changes no match."""
    import random
    import re

    from worldforge_otel import sanitize

    pieces = ["api", "key", "_", "-", ".", "secret", "pass", "word", "wd", "token", "auth", "orization", "session",
              "id", "x", "amz", "signature", "conn", "str", "A", "K", "S", "\u017f", "\u212a", "P", "dsn",
              "cookie"]
    rng = random.Random(11)
    for alternatives in (sanitize._LONG_KEYS, sanitize._SHORT_KEYS):
        grouped = re.compile(sanitize._by_first_letter(alternatives))
        plain = re.compile(f"(?i:{alternatives})")
        for _ in range(20_000):
            text = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 5)))
            text = "".join(c.upper() if rng.random() < 0.3 else c for c in text)
            assert bool(grouped.fullmatch(text)) == bool(plain.fullmatch(text)), text
            assert bool(grouped.match(text)) == bool(plain.match(text)), text
