"""The connections repository: find, read and update oauth_connector connections in the metadata DB."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_oauth_connector.authorization import repository
from airflow_oauth_connector.exceptions import AuthorizationStorageError, OAuthConnectorError, ProfileError
from tests.support.authorization import SECRET, add_connection, extra_for


def test_a_stored_connection_is_loaded_with_its_client_secret(db: Any) -> None:
    conn_id = add_connection(extra_for(scope="read"))
    profile = repository.load_profile(conn_id)
    assert profile.conn_id == conn_id
    assert profile.client_secret == SECRET
    assert profile.scope == "read"
    stored = repository.stored_profile(conn_id)
    assert (stored.cache_key, stored.scope) == (profile.cache_key, "read")


def test_a_connection_from_the_environment_is_loaded_but_not_stored(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {
        "conn_type": "oauth_connector",
        "host": "https://api.example.com",
        "login": "env-client",
        "password": SECRET,
        "extra": extra_for(),
    }
    monkeypatch.setenv("AIRFLOW_CONN_REPO_FROM_ENV", json.dumps(conn))
    assert repository.load_profile("repo_from_env").client_id == "env-client"
    with pytest.raises(AuthorizationStorageError, match="not stored in the Airflow metadata database"):
        repository.stored_profile("repo_from_env")


def test_an_unknown_connection_is_not_defined(db: Any) -> None:
    with pytest.raises(OAuthConnectorError, match="is not defined"):
        repository.load_profile("repo_nowhere")


def test_a_connection_of_another_type_is_refused(db: Any) -> None:
    other = add_connection({"foo": "bar"}, conn_type="http")
    with pytest.raises(AuthorizationStorageError, match="has type 'http'"):
        repository.load_profile(other)


def test_list_connection_ids_holds_only_ours_sorted(db: Any) -> None:
    ours = sorted(add_connection() for _ in range(3))
    add_connection({"foo": "bar"}, conn_type="http")
    assert repository.list_connection_ids() == ours


def test_an_extra_that_is_not_a_json_object_is_a_profile_error(db: Any) -> None:
    for text, problem in (
        ("{not json", r"Extra \(extra\): not valid JSON near character 1"),  # the one wording of a JSON problem
        ("[1, 2]", r"Extra \(extra\): expected a JSON object, got list"),
        ("[" * 5000, r"Extra \(extra\): not valid JSON: nested too deeply"),
    ):
        stored = SimpleNamespace(conn_id="repo_bad_extra", extra=text)  # as a row written around Airflow holds it
        with pytest.raises(ProfileError, match=problem):
            repository.profile_of(stored)  # type: ignore[arg-type]


def test_write_extra_returns_the_new_profile_within_the_callers_session(db: Any) -> None:
    from airflow.utils.session import create_session

    conn_id = add_connection()
    with create_session() as session:
        conn = repository.stored_connection(session, conn_id)
        profile = repository.write_extra(session, conn, {**repository.extra_of(conn), "refresh_token": "r-1"})
        assert profile.refresh_token == "r-1"
    assert repository.stored_profile(conn_id).refresh_token == "r-1"  # committed: read in a new session


def test_defined_connection_reads_every_source_airflow_reads(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    stored = add_connection()
    monkeypatch.setenv("AIRFLOW_CONN_REPO_ENV_ONLY", json.dumps({"conn_type": "http", "host": "https://x.example"}))
    assert repository.defined_connection(stored).conn_id == stored
    assert repository.defined_connection("repo_env_only").conn_type == "http"  # any type: the caller checks
    with pytest.raises(OAuthConnectorError, match="'repo_nowhere' is not defined"):
        repository.defined_connection("repo_nowhere")


def test_load_profile_looks_up_in_airflows_order_with_one_query(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    stored = add_connection(extra_for(scope="read"))
    queries: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "connection" in statement.lower():
            queries.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        assert repository.load_profile(stored).scope == "read"
        assert len(queries) == 1
        queries.clear()
        with pytest.raises(OAuthConnectorError, match="is not defined"):
            repository.load_profile("repo_nowhere")
        assert len(queries) == 1  # the metadata DB is asked once (it was asked first, then again by Airflow)
        shadow = {"conn_type": "oauth_connector", "host": "https://api.example.com", "login": "env-client",
                  "password": SECRET, "extra": extra_for(scope="env")}  # fmt: skip
        monkeypatch.setenv(f"AIRFLOW_CONN_{stored.upper()}", json.dumps(shadow))
        queries.clear()
        profile = repository.load_profile(stored)
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert (profile.client_id, profile.scope) == ("env-client", "env")  # the environment wins, as in a task
    assert queries == []
    assert repository.stored_profile(stored).scope == "read"  # writes still go to the stored row


def test_is_test_copy_tells_airflows_copy_under_a_random_id(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy of Airflow's Test: 8 letters and digits, defined by its AIRFLOW_CONN_<ID> alone, not stored."""
    from airflow.utils.strings import get_random_string

    copy = get_random_string()
    assert repository.is_test_copy(copy) is False  # no variable: nothing Airflow's Test made
    monkeypatch.setenv(f"AIRFLOW_CONN_{copy.upper()}", json.dumps({"conn_type": "oauth_connector"}))
    assert repository.is_test_copy(copy) is True
    stored = add_connection()
    monkeypatch.setenv(f"AIRFLOW_CONN_{stored.upper()}", json.dumps({"conn_type": "oauth_connector"}))
    assert repository.is_test_copy(stored) is False  # not Airflow's shape of id (and stored)
    for other in ("my_api_1", "abc1234", "abcd12345"):  # not 8 letters and digits
        monkeypatch.setenv(f"AIRFLOW_CONN_{other.upper()}", json.dumps({"conn_type": "oauth_connector"}))
        assert repository.is_test_copy(other) is False


def test_is_test_copy_is_false_for_a_stored_id_or_without_a_database(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.models import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        session.add(Connection(conn_id="Stored12", conn_type="oauth_connector", host="https://api.example.com"))
    monkeypatch.setenv("AIRFLOW_CONN_STORED12", json.dumps({"conn_type": "oauth_connector"}))
    assert repository.is_test_copy("Stored12") is False  # stored under that id: its own records are its own

    def no_database(session: Any) -> Any:
        raise RuntimeError("no metadata database in a task")

    monkeypatch.setenv("AIRFLOW_CONN_ABCD1234", json.dumps({"conn_type": "oauth_connector"}))
    monkeypatch.setattr(repository, "session_scope", no_database)
    assert repository.is_test_copy("aBcD1234") is False
