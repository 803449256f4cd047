from __future__ import annotations

import pytest

from airflow_oauth_connector.exceptions import IncrementalCursorError
from airflow_oauth_connector.incremental import CursorTracker, Incremental

pytestmark = pytest.mark.timeout(30)


def test_key_is_per_dag_task_and_connection():
    inc = Incremental(cursor_path="updated_at", request_param="updated_since")
    assert inc.variable_key("d", "t", "c") == "oauth_connector.incremental.d.t.c"
    assert Incremental(cursor_path="x", key="shared").variable_key("d", "t", "c") == "shared"


def test_tracker_keeps_the_maximum_at_a_dotted_path():
    tracker = CursorTracker("meta.v", 3)
    tracker.observe([{"meta": {"v": 2}}, {"meta": {"v": 7}}, {"meta": {}}, {"other": 1}])
    assert tracker.value == 7


def test_timestamps_compare_as_instants_and_keep_their_text():
    tracker = CursorTracker("at", "2026-01-01T10:00:00+01:00")
    tracker.observe([{"at": "2026-01-01T09:30:00Z"}])  # 10:30 at +01:00 is 09:30Z: later
    assert tracker.value == "2026-01-01T09:30:00Z"
    tracker.observe([{"at": "2026-01-01T08:00:00Z"}])
    assert tracker.value == "2026-01-01T09:30:00Z"


def test_incomparable_values_name_the_path():
    tracker = CursorTracker("at", 5)
    with pytest.raises(IncrementalCursorError, match="'at'"):
        tracker.observe([{"at": "yesterday"}])


def test_variables_round_trip(monkeypatch):
    from airflow.sdk import Variable

    box: dict[str, object] = {}
    monkeypatch.setattr(
        Variable, "get", classmethod(lambda cls, key, default=None, deserialize_json=False: box.get(key, default))
    )
    monkeypatch.setattr(
        Variable, "set", classmethod(lambda cls, key, value, serialize_json=False: box.__setitem__(key, value))
    )
    inc = Incremental(cursor_path="id", initial_value=0)
    assert inc.load("k") == 0
    inc.save("k", 42, "run-1")
    assert inc.load("k") == 42
    assert box["k"]["run_id"] == "run-1"
