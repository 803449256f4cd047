"""
Land an API into files: wait for an export job, then stream its records into ``file://`` object storage.

Connection ``oauth_demo_cc`` (client credentials). ``OAuthConnectorSensor`` polls ``jobs/<name>`` until the
job's state is ``done``; the load then reads ``records`` page by page (offset/limit) and writes each page into
gzip JSON Lines part files as it arrives. The run's files appear together, in ``<path>/<dag>.<task>.<run>/``
with a ``_SUCCESS`` manifest, only once the last page is written. ``Incremental`` sends the stored high-water
mark as ``updated_since`` and moves it (an Airflow Variable) only after the files are committed.
The ``path`` param defaults to ``$AIRFLOW_HOME/landed/records``; any ObjectStoragePath URL works
(``s3://aws_default@bucket/records``, ``gs://…``).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from airflow.sdk import dag, task

from airflow_oauth_connector.destinations import ObjectStorageDestination
from airflow_oauth_connector.incremental import Incremental
from airflow_oauth_connector.operators import OAuthConnectorOperator
from airflow_oauth_connector.pagination import OffsetPaginator
from airflow_oauth_connector.sensors import OAuthConnectorSensor

HOME = Path(os.environ.get("AIRFLOW_HOME", "~/airflow")).expanduser()


@dag(
    dag_id="oauth_land_records_to_files",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"path": f"file://{HOME}/landed/records", "total": 250},
    tags=["oauth-connector", "example"],
)
def oauth_land_records_to_files() -> None:
    export_ready = OAuthConnectorSensor(
        task_id="wait_for_export",
        oauth_conn_id="oauth_demo_cc",
        endpoint="jobs/export-{{ run_id | replace(':', '') | replace('+', '') }}",
        request_params={"ready_after": 2},
        response_check=lambda response: response.json()["state"] == "done",
        poke_interval=1,
        timeout=300,
    )
    landed = OAuthConnectorOperator(
        task_id="land_records",
        oauth_conn_id="oauth_demo_cc",
        endpoint="records",
        query_params={"total": "{{ params.total }}"},
        pagination=OffsetPaginator(limit=100, records_path="records", total_path="total"),
        destination=ObjectStorageDestination("{{ params.path }}", format="jsonl.gz"),
        incremental=Incremental(cursor_path="updated_at", request_param="updated_since"),
    )

    @task
    def report(manifest: dict[str, object]) -> dict[str, object]:
        files = list(manifest["files"])  # type: ignore[call-overload]
        print(f"Landed {manifest['records']} records in {len(files)} file(s) under {manifest['path']}")
        return {"records": manifest["records"], "files": len(files), "cursor": manifest["cursor"]}

    export_ready >> landed
    report(landed.output)


oauth_land_records_to_files()
