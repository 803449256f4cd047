"""Deferrable calls: the trigger against the real server, pagination across deferrals, at-most-once POST."""

from __future__ import annotations

import asyncio
import json
import types

import pytest

from airflow_oauth_connector.exceptions import ApiResponseError, InvalidClientError
from airflow_oauth_connector.operators import OAuthConnectorOperator
from airflow_oauth_connector.pagination import OffsetPaginator, PageRequest
from airflow_oauth_connector.triggers import OAuthConnectorTrigger
from tests.support.airflow_compat import TaskDeferred
from tests.support.connections import connection

pytestmark = pytest.mark.integration


@pytest.fixture
def cc_conn(monkeypatch, auth_server, file_token_store):
    monkeypatch.setenv("AIRFLOW_CONN_OAUTH_DEFER", json.dumps(connection(auth_server, store_backend="file")))
    return "oauth_defer"


def fire(trigger: OAuthConnectorTrigger) -> dict:
    """Run a trigger as the triggerer would: rebuilt from its JSON-serialised form, in an event loop."""
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_oauth_connector.triggers.oauth.OAuthConnectorTrigger"
    rebuilt = OAuthConnectorTrigger(**json.loads(json.dumps(kwargs)))

    async def first_event():
        async for event in rebuilt.run():
            return event.payload
        raise AssertionError("no event")

    return asyncio.run(first_event())


def run_deferred(op: OAuthConnectorOperator, context) -> tuple[object, int]:
    """Drive execute → (trigger → execute_complete)* like the scheduler and triggerer do; count deferrals."""
    deferrals = 0
    call = lambda: op.execute(context)  # noqa: E731
    while True:
        try:
            return call(), deferrals
        except TaskDeferred as deferred:
            deferrals += 1
            event = fire(deferred.trigger)
            kwargs = json.loads(json.dumps(deferred.kwargs or {}))  # next_kwargs are stored as JSON
            method = getattr(op, deferred.method_name)
            call = lambda method=method, event=event, kwargs=kwargs: method(context, event=event, **kwargs)  # noqa: E731


def ti_context(try_number: int = 1):
    ti = types.SimpleNamespace(dag_id="d", run_id="r1", task_id="t", map_index=-1, try_number=try_number)
    return {"ti": ti}


def test_trigger_arguments_hold_no_secret(cc_conn, auth_server):
    trigger = OAuthConnectorTrigger(oauth_conn_id=cc_conn, method="GET", request=PageRequest("whoami").serialize())
    text = json.dumps(trigger.serialize())
    assert auth_server.client("cc").client_secret not in text
    assert "token" not in json.loads(text)[1]["request"]


def test_paginated_call_across_deferrals(cc_conn, fresh_stats):
    op = OAuthConnectorOperator(
        task_id="t",
        oauth_conn_id=cc_conn,
        endpoint="items",
        query_params={"total": 45},
        pagination=OffsetPaginator(limit=20, records_path="items", total_path="total"),
        deferrable=True,
    )
    records, deferrals = run_deferred(op, ti_context())
    assert [r["id"] for r in records] == list(range(1, 46))
    assert deferrals == 3  # one page per deferral; the pagination state travels in next_kwargs
    assert fresh_stats.stats()["token_requests"]["total"] == 1  # the token came from the shared store


def test_deferred_error_is_raised_in_the_task_with_its_type(cc_conn):
    op = OAuthConnectorOperator(task_id="t", oauth_conn_id=cc_conn, endpoint="status/404", deferrable=True)
    with pytest.raises(ApiResponseError, match="HTTP 404") as raised:
        run_deferred(op, ti_context())
    assert raised.value.http_status == 404
    assert raised.value.url.endswith("/api/status/404")


def test_deferred_token_error_keeps_its_type(cc_conn, monkeypatch, auth_server):
    broken = connection(auth_server, secret="wrong-secret", store_backend="file")
    monkeypatch.setenv("AIRFLOW_CONN_OAUTH_DEFER_BROKEN", json.dumps(broken))
    op = OAuthConnectorOperator(task_id="t", oauth_conn_id="oauth_defer_broken", endpoint="whoami", deferrable=True)
    with pytest.raises(InvalidClientError) as raised:  # not DeferredCallFailed("InvalidClientError: ...")
        run_deferred(op, ti_context())
    assert raised.value.error == "invalid_client"
    assert "wrong-secret" not in str(raised.value)


def test_post_is_not_sent_twice_after_a_triggerer_restart(cc_conn, fresh_stats):
    op = OAuthConnectorOperator(
        task_id="t", oauth_conn_id=cc_conn, endpoint="echo", method="POST", json={"n": 1}, deferrable=True
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(ti_context())
    first = fire(deferred.value.trigger)
    assert first["status"] == "success"
    # the triggerer restarts before the event reached the task: the same trigger runs again
    again = fire(deferred.value.trigger)
    assert again["status"] == "error"
    assert again["error_type"] == "AlreadySentError"
    assert fresh_stats.stats()["api_requests"]["by_path"]["/api/echo"] == 1
    # a new try of the task (Airflow retry) may send it again
    with pytest.raises(TaskDeferred) as retried:
        op.execute(ti_context(try_number=2))
    assert fire(retried.value.trigger)["status"] == "success"
