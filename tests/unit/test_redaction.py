"""The one redaction module: scrub known secrets, drop URL queries, printable ASCII, fold and cut."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_oauth_connector.redaction import (
    cut,
    drop_password,
    drop_queries,
    drop_query,
    fold,
    printable,
    redact,
    scrub,
)

FAST = settings(
    max_examples=int(os.environ.get("UNIT_HYPOTHESIS_EXAMPLES", "200")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
secrets = st.text(st.characters(blacklist_categories=["Cs"]), min_size=4, max_size=30).filter(lambda s: s.strip())


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://x.example.com/a?token=SECRET", "https://x.example.com/a"),
        ("https://x.example.com/a#access_token=SECRET", "https://x.example.com/a"),
        ("https://x.example.com/a?b=1#c", "https://x.example.com/a"),
        ("https://x.example.com/a", "https://x.example.com/a"),
    ],
)
def test_redact_url(url, safe):
    assert drop_query(url) == safe


def test_redact_text_removes_query_strings():
    text = "Max retries exceeded with url: /a?access_token=SECRET&x=1 (Caused by X('/b?code=SECRET2'))"
    clean = redact(text, folded=False)
    assert "SECRET" not in clean
    assert clean == "Max retries exceeded with url: /a?... (Caused by X('/b?...'))"


def test_redact_text_cut_to_limit():
    assert redact("a" * 500, limit=10) == "a" * 10 + "..."
    assert redact("short") == "short"


def test_steps():
    assert scrub("a SECRET b SECRETLONG", ["SECRET", "SECRETLONG", None, ""]) == "a *** b ***"
    assert drop_queries("see https://h/p?code=x and /q?y") == "see https://h/p?... and /q?..."
    assert printable("bell\x07 esc\x1b[31m é\n") == "bell? esc?[31m ??"
    assert fold("  a \n\t b  ") == "a b"
    assert cut("abcdef", 3) == "abc..."
    assert cut("abc", 3) == "abc"
    assert drop_password("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert drop_password("redis://user:pw@h:1/0") == "redis://user:***@h:1/0"
    assert drop_password("redis://h:1/0") == "redis://h:1/0"


def test_terminal_text_keeps_no_control_characters():
    assert redact("denied\x1b]0;owned\x07\r\n", limit=None, ascii_only=True, folded=False) == "denied?]0;owned???"


@FAST
@given(prefix=st.text(max_size=50), secret=secrets, suffix=st.text(max_size=50), limit=st.integers(1, 400))
def test_a_known_secret_never_survives(prefix, secret, suffix, limit):
    text = f"{prefix}{secret}{suffix}"
    clean = redact(text, secrets=[secret], limit=limit)
    assert secret not in clean or secret in redact(f"{prefix}{suffix}", limit=limit)


@FAST
@given(text=st.text(max_size=500), limit=st.integers(0, 400))
def test_output_is_bounded(text, limit):
    assert len(redact(text, limit=limit)) <= limit + 3


@FAST
@given(text=st.text(max_size=300))
def test_terminal_output_is_printable_ascii(text):
    assert all(" " <= ch <= "~" for ch in redact(text, ascii_only=True, limit=None))


@FAST
@given(
    path=st.text("abc/", max_size=10),
    query=st.text(st.characters(blacklist_categories=["Cs", "Zs", "Cc"]), min_size=1, max_size=30),
)
def test_no_query_survives(path, query):
    query = query.translate({ord(c): None for c in "'\"()"}) or "x"
    clean = redact(f"GET https://h/{path}?{query} failed", limit=None)
    assert f"?{query}" not in clean or "...".startswith(query)  # "?." is a prefix of the marker "?..."
