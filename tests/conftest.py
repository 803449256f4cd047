"""
Test-session set-up shared by all tests.

Airflow reads its configuration when first imported, so this isolates it *before* any test module
imports airflow: a throw-away AIRFLOW_HOME (SQLite metadata DB), no example DAGs, and our dags/ and
tests/dags/ as DAG bundles.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

_HOME = Path(tempfile.mkdtemp(prefix="oauth-connector-tests-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME / 'airflow.db'}"
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# dag.test()'s in-process execution API signs task tokens with it; Airflow 3.2 does not generate one.
os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_urlsafe(32))
# Tests that are about shared stores choose one explicitly; elsewhere tokens must not outlive a test.
os.environ["AIRFLOW__OAUTH_CONNECTOR__TOKEN_STORE"] = "memory"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
    [
        {
            "name": name,
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(path), "refresh_interval": 0},
        }
        for name, path in (("provider_dags", REPO / "dags"), ("test_dags", REPO / "tests" / "dags"))
    ]
)
for name in list(os.environ):
    if name.startswith("AIRFLOW_CONN_"):
        del os.environ[name]


# Fernet key, isolated store config, Redis prefix and a manual monotonic clock for the token-store tests.
pytest_plugins = ["tests.support.stores"]


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata DB in the session's AIRFLOW_HOME (for dag.test() and Variables)."""
    from tests.support.airflow_compat import wait_for_in_process_api_startup

    wait_for_in_process_api_startup()
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=dict(os.environ)
    )
    return _HOME


@pytest.fixture(autouse=True)
def _fresh_process_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a new task process would: no token cached in memory by an earlier test."""
    from airflow_oauth_connector.store import MemoryTokenStore
    from airflow_oauth_connector.store.factory import clear_store_cache

    monkeypatch.setattr(MemoryTokenStore, "_shared", None)
    clear_store_cache()
