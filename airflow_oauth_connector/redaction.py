"""
Secret redaction: register secrets with Airflow's masker, scrub known secrets, drop URL queries, fold and cut.

Every message, excerpt and status text the provider builds from data it does not control (server answers,
exception texts, callback parameters) goes through :func:`redact` (or one of its steps) before it reaches a
log, an exception, a page or a terminal. The steps, in the order :func:`redact` applies them:

1. :func:`scrub`: each known secret (client secret, tokens, codes, verifiers) becomes ``***``;
2. :func:`drop_queries`: every ``?query`` in the text becomes ``?...`` (query strings may carry tokens;
   :func:`drop_query` for one URL, :func:`drop_password` for a service URL's password);
3. :func:`printable`: characters outside printable ASCII become ``?`` (for terminals; optional);
4. :func:`fold`: runs of whitespace become one space (optional);
5. :func:`cut`: at most ``limit`` characters, then ``...``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
ELLIPSIS = "..."
_QUERY_IN_TEXT = re.compile(r"\?[^\s'\"()]*")
_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]")
#: Callback parameters longer than this are not registered with the masker (a code is never that long).
_MAX_MASKED = 2048


def register_secret(value: str | None) -> None:
    """Tell Airflow's secrets masker (the Task SDK's) never to log ``value``."""
    if not value:
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - the SDK is a hard dependency
        return
    mask_secret(value)


def register_secret_everywhere(value: str | None) -> None:
    """:func:`register_secret`, plus the api-server's own masker (its access log prints query strings)."""
    if not value or len(value) > _MAX_MASKED:
        return
    try:
        from airflow._shared.secrets_masker import secrets_masker

        secrets_masker.mask_secret(value)
    except ImportError:  # pragma: no cover - layout of Airflow 3.3
        pass
    register_secret(value)


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every non-empty value of ``secrets`` replaced by ``***`` (longest first)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def drop_query(url: str) -> str:
    """The URL without its query string and fragment (query strings may carry tokens)."""
    return url.split("?", 1)[0].split("#", 1)[0]


def drop_password(url: str) -> str:
    """A service URL (e.g. ``redis://user:pw@host/0``) with its password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{MASK}@{netloc}"))


def drop_queries(text: str) -> str:
    """Every URL query inside a free text (e.g. an exception message) replaced by ``?...``."""
    return _QUERY_IN_TEXT.sub("?...", text)


def printable(text: str) -> str:
    """Printable ASCII only: anything else (controls, escapes, non-ASCII) becomes ``?``."""
    return _NOT_PRINTABLE.sub("?", text)


def fold(text: str) -> str:
    """Runs of whitespace folded into one space; no leading or trailing whitespace."""
    return " ".join(text.split())


def cut(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else its first ``limit`` and ``...``."""
    return text if len(text) <= limit else text[:limit] + ELLIPSIS


def redact(
    text: str,
    *,
    secrets: Iterable[str | None] = (),
    limit: int | None = 300,
    queries: bool = True,
    ascii_only: bool = False,
    folded: bool = True,
) -> str:
    """``text`` made safe to show: the steps of the module docstring (``limit=None``: no cut)."""
    text = scrub(text, secrets)
    if queries:
        text = drop_queries(text)
    if ascii_only:
        text = printable(text)
    if folded:
        text = fold(text)
    return text if limit is None else cut(text, limit)
