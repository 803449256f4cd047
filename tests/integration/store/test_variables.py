"""
VariableTokenStore inside a real task: ``dag.test()`` against the session's migrated SQLite metadata DB.

``airflow.sdk.Variable`` only writes from a task (through the Task SDK's execution API), so the checks run in
a task of a throw-away DAG and report back through a JSON file.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.support.airflow_compat import DagBag, sync_bag_to_db

# migrating the metadata DB and a dag.test() run: longer than the default per-test timeout
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

DAG_ID = "oauth_connector_variable_store_check"

DAG_SOURCE = """
import json
import time

from airflow.sdk import Variable, dag, task


@dag(dag_id=DAG_ID, schedule=None)
def variable_store_check():
    @task
    def check():
        from airflow.sdk._shared.secrets_masker import should_hide_value_for_key

        from airflow_oauth_connector.status import Failure, TokenStatus
        from airflow_oauth_connector.store.codec import TokenCodec
        from airflow_oauth_connector.store.variables import VariableTokenStore
        from airflow_oauth_connector.token import Token

        out = {}
        key = "my_api:0123456789abcdef"
        token = Token(access_token="ACCESS-SECRET-1", refresh_token="REFRESH-SECRET-1", expires_at=time.time() + 600)
        store = VariableTokenStore(codec=TokenCodec(FERNET_KEY))
        name = store.variable_key(key)
        out["name"] = name
        out["masked_name"] = should_hide_value_for_key(name)
        out["empty"] = store.load(key) is None
        out["commit_is_own"] = store.commit(key, token) == token
        out["round_trip"] = store.load(key) == token
        raw = Variable.get(name)
        out["raw_has_secret"] = "ACCESS-SECRET-1" in raw or "REFRESH-SECRET-1" in raw
        out["raw_prefix"] = raw[:6]
        out["other_store_reads_it"] = VariableTokenStore(codec=TokenCodec(FERNET_KEY)).load(key) == token
        out["wrong_key_reads_nothing"] = VariableTokenStore(codec=TokenCodec(None)).load(key) is None

        # lost race: another writer's record lands between our write and our re-read
        rival_token = Token(access_token="ACCESS-SECRET-RIVAL", expires_at=time.time() + 600)
        rival = VariableTokenStore(codec=TokenCodec(FERNET_KEY))

        class Racing(VariableTokenStore):
            def _set(self, name, value, description):
                super()._set(name, value, description)
                if name.startswith(self.prefix + "token"):
                    rival.save(key, rival_token)

        adopted = Racing(codec=TokenCodec(FERNET_KEY)).commit(key, token)
        out["adopted_rival"] = adopted == rival_token
        out["store_holds_rival"] = store.load(key) == rival_token

        Variable.set(name, "{corrupt")
        out["corrupt_is_none"] = store.load(key) is None

        failure = Failure(kind="invalid_grant", message="revoked", at=1767225600.0, where="test")
        store.save_status(key, TokenStatus(failure=failure))
        out["status"] = store.load_status(key).to_dict()
        store.clear_status(key)
        out["status_cleared"] = store.load_status(key) is None

        store.delete(key)
        out["deleted"] = store.load(key) is None
        store.delete(key)  # deleting nothing is fine

        with store.lock(key), store.lock(key):  # in-process, re-entrant
            pass
        with open(OUT, "w") as handle:
            json.dump(out, handle)

    check()


variable_store_check()
"""


@pytest.fixture
def check_results(airflow_db: Path, tmp_path: Path) -> dict[str, object]:
    out = tmp_path / "out.json"
    fernet_key = Fernet.generate_key().decode()
    dag_file = tmp_path / f"{DAG_ID}.py"
    dag_file.write_text(
        f"DAG_ID = {DAG_ID!r}\nOUT = {str(out)!r}\nFERNET_KEY = {fernet_key!r}\n" + textwrap.dedent(DAG_SOURCE)
    )
    bag = DagBag(str(dag_file))
    assert not bag.import_errors, bag.import_errors
    _register(bag)
    run = bag.get_dag(DAG_ID).test()
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    result: dict[str, object] = json.loads(out.read_text())
    return result


def _register(bag: object) -> None:
    """Serialize the throw-away DAG into the DB under a configured bundle (dag.test() needs it serialized)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.utils.session import create_session

    manager = DagBundlesManager()
    with create_session() as session:
        manager.sync_bundles_to_db(session=session)
    bundle = next(iter(manager.get_all_dag_bundles()))
    sync_bag_to_db(bag, bundle.name, None)


def test_variable_store_in_a_real_task(check_results: dict[str, object]) -> None:
    r = check_results
    assert str(r["name"]).startswith("oauth_connector__token__")
    assert r["masked_name"] is True  # Airflow hides the value in the UI and masks it in logs
    assert r["empty"] is True
    assert r["commit_is_own"] is True
    assert r["round_trip"] is True
    assert r["raw_has_secret"] is False
    assert r["raw_prefix"] == "gAAAAA"  # a Fernet token
    assert r["other_store_reads_it"] is True
    assert r["wrong_key_reads_nothing"] is True
    assert r["adopted_rival"] is True
    assert r["store_holds_rival"] is True
    assert r["corrupt_is_none"] is True
    assert r["status"]["failure"] == {
        "kind": "invalid_grant",
        "message": "revoked",
        "at": 1767225600.0,
        "where": "test",
    }
    assert r["status_cleared"] is True
    assert r["deleted"] is True
