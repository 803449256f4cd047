from __future__ import annotations

import types

import pytest

from airflow_oauth_connector.destinations.base import RunKey, safe_name

pytestmark = pytest.mark.timeout(30)


def test_run_key_from_a_task_context():
    ti = types.SimpleNamespace(
        dag_id="d", task_id="t", run_id="manual__2026-01-01T00:00:00+00:00", map_index=2, try_number=3
    )
    run = RunKey.from_context({"ti": ti})
    assert run == RunKey("d", "t", "manual__2026-01-01T00:00:00+00:00", map_index=2, try_number=3)
    assert run.folder == "d.t.manual__2026-01-01T00_00_00_00_00.2"  # the same for every try


def test_outside_a_task_each_run_is_unique():
    assert RunKey.from_context({}).run_id != RunKey.from_context({}).run_id


def test_safe_name():
    assert safe_name("../a b/c") == "a_b_c"
    assert safe_name("..") == "_"
