"""
Incremental loads: send the stored high-water mark as a query parameter; store the new mark after the commit.

The mark is kept in an Airflow Variable (``oauth_connector.incremental.<dag_id>.<task_id>.<conn_id>``, JSON):
task code reaches Variables through the Task SDK from any worker, and they outlive task retries. The operator
saves the mark only after the destination committed, so a failed run (API or destination) leaves it unchanged
and the next run starts from the same mark.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from airflow_oauth_connector.exceptions import IncrementalCursorError
from airflow_oauth_connector.pagination import json_path

VARIABLE_PREFIX = "oauth_connector.incremental"


@dataclass(frozen=True)
class Incremental:
    """
    :param cursor_path: dotted path of each record's cursor value (e.g. ``"updated_at"``, ``"meta.version"``).
    :param request_param: query parameter that receives the stored mark (e.g. ``"updated_since"``); ``None``
        to only track the mark (read it from the manifest's ``cursor``).
    :param initial_value: the mark of the first run (``None``: the first run sends no parameter).
    :param key: Variable key overriding the default one (to share or rename a mark).
    """

    cursor_path: str
    request_param: str | None = None
    initial_value: Any = None
    key: str | None = None

    def variable_key(self, dag_id: str, task_id: str, conn_id: str) -> str:
        return self.key or f"{VARIABLE_PREFIX}.{dag_id}.{task_id}.{conn_id}"

    def load(self, key: str) -> Any:
        """The stored mark, or ``initial_value`` when none is stored yet."""
        from airflow.sdk import Variable

        stored = Variable.get(key, default=None, deserialize_json=True)
        if isinstance(stored, dict) and "cursor" in stored:
            return stored["cursor"]
        return self.initial_value

    def save(self, key: str, value: Any, run_id: str) -> None:
        from airflow.sdk import Variable

        stored_at = dt.datetime.now(dt.timezone.utc).isoformat()
        Variable.set(key, {"cursor": value, "run_id": run_id, "stored_at": stored_at}, serialize_json=True)

    def tracker(self, start: Any) -> CursorTracker:
        return CursorTracker(self.cursor_path, start)


def _comparable(value: Any) -> Any:
    """Numbers as they are; ISO-8601 timestamps as datetimes (timezone-aware ones), other text as text."""
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        return parsed if parsed.tzinfo is not None else value
    return value


class CursorTracker:
    """The maximum cursor value over the records seen (starting at the stored mark)."""

    def __init__(self, cursor_path: str, start: Any) -> None:
        self.cursor_path = cursor_path
        self.value = start
        self._key = _comparable(start) if start is not None else None

    def observe(self, records: list[Any]) -> None:
        for record in records:
            value = json_path(record, self.cursor_path)
            if value is None:
                continue
            key = _comparable(value)
            try:
                newer = self._key is None or key > self._key
            except TypeError:
                raise IncrementalCursorError(
                    f"cursor_path {self.cursor_path!r}: {value!r} cannot be compared with the mark {self.value!r}"
                ) from None
            if newer:
                self.value, self._key = value, key
