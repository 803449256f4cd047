"""OAuthConnectorSensor against the real server's export-job endpoint, with a 401 on one poll."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from airflow_oauth_connector.sensors import OAuthConnectorSensor
from tests.integration.test_deferrable import fire
from tests.support.connections import connection

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def cc_conn(monkeypatch, auth_server, file_token_store):
    monkeypatch.setenv("AIRFLOW_CONN_SENSE_CC", json.dumps(connection(auth_server, store_backend="file")))
    return "sense_cc"


def sensor(**kwargs) -> OAuthConnectorSensor:
    job = uuid.uuid4().hex[:8]
    return OAuthConnectorSensor(
        task_id="wait",
        oauth_conn_id="sense_cc",
        endpoint=f"jobs/{job}",
        request_params={"ready_after": 4, "reject_poll": 2},
        response_check=lambda response: response.json()["state"] == "done",
        poke_interval=0.05,
        timeout=60,
        **kwargs,
    )


def stats(server) -> tuple[int, int]:
    """(token requests, job polls) as the server counted them."""
    s = server.stats()
    polls = sum(n for path, n in s["api_requests"]["by_path"].items() if path.startswith("/api/jobs/"))
    return s["token_requests"]["total"], polls


def test_poke_mode_renews_the_token_on_a_401_and_waits_for_done(cc_conn, fresh_stats):
    sensor(mode="poke").execute({})
    # poll 1 running, poll 2 answered 401 → new token → replay (poll 3) running, poll 4 done
    assert stats(fresh_stats) == (2, 4)


def test_deferrable_mode_polls_in_the_trigger(cc_conn, fresh_stats):
    from airflow.sdk.exceptions import TaskDeferred

    s = sensor(deferrable=True)
    polls = 0
    call = lambda: s.execute({})  # noqa: E731
    while True:
        try:
            result = call()
            break
        except TaskDeferred as deferred:
            kwargs = json.loads(json.dumps(deferred.kwargs or {}))
            if deferred.method_name == "poll_complete":
                polls += 1
                event = fire(deferred.trigger)
                call = lambda event=event, kwargs=kwargs: s.poll_complete({}, event, **kwargs)  # noqa: E731
            else:
                call = lambda kwargs=kwargs: s.poll_again({}, None, **kwargs)  # noqa: E731
    assert result is True
    assert polls == 3  # trigger runs; the second one met the 401, renewed the token and asked again
    assert stats(fresh_stats) == (2, 4)


def test_the_job_endpoint_answers_401_once(auth_server):
    # the drill's premise, checked on the wire: a valid token is refused exactly at poll 2
    token = requests.post(
        auth_server.token_url,
        data={"grant_type": "client_credentials"},
        auth=(auth_server.client("cc").client_id, auth_server.client("cc").client_secret),
        timeout=10,
    ).json()["access_token"]
    url = f"{auth_server.api_base}/jobs/{uuid.uuid4().hex[:8]}?ready_after=3&reject_poll=2"
    codes = [requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code for _ in range(3)]
    assert codes == [200, 401, 200]
