"""Decode a connection setting written as JSON text: bounded, and every failure a :class:`ProfileError`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow_oauth_connector.exceptions import ProfileError

MAX_FIELD_CHARS = 64 * 1024
"""The longest JSON text one setting (``access_params``, ``provider_params``, ...) may hold."""
MAX_EXTRA_CHARS = 1024 * 1024
"""The longest ``extra`` (every setting's JSON together)."""


def json_problem(exc: ValueError | RecursionError) -> str:
    """``not valid JSON near character 48``: where :func:`json.loads` stopped, for a problem message."""
    if isinstance(exc, RecursionError):
        return "not valid JSON: nested too deeply"
    position = getattr(exc, "pos", None)
    return "not valid JSON" + (f" near character {position}" if position is not None else "")


def parse_json(conn_id: str, field: str, text: str, *, max_chars: int = MAX_FIELD_CHARS) -> Any:
    """The value of JSON ``text``; :class:`ProfileError` naming ``field`` when too long, invalid or too deep."""
    if len(text) > max_chars:
        raise ProfileError(conn_id, field, f"is longer than {max_chars} characters")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProfileError(conn_id, field, json_problem(exc)) from None


def json_object(conn_id: str, field: str, value: Any, *, max_chars: int = MAX_FIELD_CHARS) -> Mapping[str, Any]:
    """
    ``value`` as a mapping: a mapping as it is, JSON text of an object decoded (``None`` and ``""``: empty);
    anything else raises :class:`ProfileError` naming ``field`` (its message names the field's form label).
    """
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        value = parse_json(conn_id, field, value, max_chars=max_chars)
    if not isinstance(value, Mapping):
        raise ProfileError(conn_id, field, f"expected a JSON object, got {type(value).__name__}")
    return value
