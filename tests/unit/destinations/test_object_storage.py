from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from airflow_oauth_connector.destinations import ObjectStorageDestination, RunKey
from airflow_oauth_connector.destinations.object_storage import SUCCESS, TMP_FOLDER
from airflow_oauth_connector.exceptions import DestinationSchemaError, DestinationUnavailableError

pytestmark = pytest.mark.timeout(60)

RUN = RunKey(dag_id="dag", task_id="task", run_id="scheduled__2026-01-01T00:00:00+00:00")


def page(start: int, n: int = 10, **extra) -> list[dict]:
    return [{"id": i, "name": f"r{i}", "nested": {"a": i}, **extra} for i in range(start, start + n)]


def lines(files: list[str]) -> list[dict]:
    out = []
    for url in files:
        raw = Path(url.removeprefix("file://")).read_bytes()
        out += [json.loads(x) for x in (gzip.decompress(raw) if url.endswith(".gz") else raw).splitlines()]
    return out


def test_final_folder_is_per_run_and_safe():
    assert RUN.folder == "dag.task.scheduled__2026-01-01T00_00_00_00_00"
    assert RunKey("d", "t", "r", map_index=3, try_number=2).folder == "d.t.r.3"


def test_nothing_is_visible_before_commit(tmp_path):
    load = ObjectStorageDestination(f"file://{tmp_path}").open(RUN)
    load.write(page(1))
    assert sorted(p.name for p in tmp_path.iterdir()) == [TMP_FOLDER]
    manifest = load.commit()
    final = tmp_path / RUN.folder
    assert manifest["files"] == [f"file://{final}/part-00000.jsonl"]
    assert json.loads((final / SUCCESS).read_text())["records"] == 10
    assert lines(manifest["files"]) == page(1)
    assert list((tmp_path / TMP_FOLDER).iterdir()) == []


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz"])
def test_parts_are_bounded(tmp_path, fmt):
    load = ObjectStorageDestination(f"file://{tmp_path}", format=fmt, max_part_bytes=300).open(RUN)
    for start in range(1, 100, 10):
        load.write(page(start))
    files = load.commit()["files"]
    assert len(files) == 10  # each page (~400 bytes) passes the bound: one per part
    assert [r["id"] for r in lines(files)] == list(range(1, 101))


def test_abort_leaves_nothing(tmp_path):
    load = ObjectStorageDestination(f"file://{tmp_path}").open(RUN)
    load.write(page(1))
    load.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == [TMP_FOLDER]
    assert list((tmp_path / TMP_FOLDER).iterdir()) == []


def test_a_retry_replaces_the_committed_output(tmp_path):
    dest = ObjectStorageDestination(f"file://{tmp_path}", max_part_bytes=100)
    first = dest.open(RUN)
    for start in (1, 11, 21):
        first.write(page(start))
    first.commit()
    second = dest.open(RunKey(RUN.dag_id, RUN.task_id, RUN.run_id, try_number=2))
    second.write(page(100, 3))
    files = second.commit()["files"]
    assert sorted(p.name for p in (tmp_path / RUN.folder).iterdir()) == [SUCCESS, "part-00000.jsonl"]
    assert [r["id"] for r in lines(files)] == [100, 101, 102]


def test_an_empty_run_commits_an_empty_folder(tmp_path):
    manifest = ObjectStorageDestination(f"file://{tmp_path}").open(RUN).commit()
    assert manifest["files"] == []
    assert (tmp_path / RUN.folder / SUCCESS).exists()


def test_unwritable_destination_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DestinationUnavailableError, match=r"object storage 'file://.*file/sub'"):
        ObjectStorageDestination(f"file://{blocker}/sub").open(RUN)


def test_path_is_templated_and_format_checked():
    assert ObjectStorageDestination.template_fields == ("path",)
    with pytest.raises(ValueError, match="format must be one of"):
        ObjectStorageDestination("file:///tmp/x", format="csv")


def test_parquet_new_field_starts_a_new_part_and_a_type_change_is_named(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    load = ObjectStorageDestination(f"file://{tmp_path}", format="parquet").open(RUN)
    load.write(page(1))
    load.write([{"id": 11, "name": None, "nested": {"a": 11}}])  # a null column fits the schema
    load.write(page(20, 2, tier="gold"))
    files = load.commit()["files"]
    assert len(files) == 2
    assert pq.read_table(files[1].removeprefix("file://")).column("tier").to_pylist() == ["gold", "gold"]
    load = ObjectStorageDestination(f"file://{tmp_path}", format="parquet").open(RUN)
    load.write(page(1))
    with pytest.raises(DestinationSchemaError, match="'id'"):
        load.write([{"id": "eleven", "name": "x", "nested": {"a": 1}}])
    load.abort()
