from __future__ import annotations

import pytest
from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

from airflow_oauth_connector.events import error_to_event
from airflow_oauth_connector.exceptions import ApiResponseError, DeferredCallFailed
from airflow_oauth_connector.sensors import OAuthConnectorSensor
from airflow_oauth_connector.triggers import OAuthConnectorTrigger
from tests.support.airflow_compat import AirflowSensorTimeout, TaskDeferred
from tests.support.builders import API_URL as API
from tests.support.builders import TOKEN_URL, set_connection
from tests.support.fake_http import FakeTransport, TokenServer, bearer, intercept, query

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def api(monkeypatch):
    """The connection ``my_api``; its token endpoint and ``/jobs`` (answering ``api.replies`` first) in process."""
    set_connection(monkeypatch, "my_api")
    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, TokenServer())
    replies = []

    def job(request):
        assert bearer(request) is not None
        return replies.pop(0) if replies else (200, {}, {"state": "done"})

    transport.route("GET", f"{API}/jobs", job)
    transport.replies = replies
    return intercept(monkeypatch, transport)


def sensor(**kwargs) -> OAuthConnectorSensor:
    kwargs.setdefault("response_check", lambda r: r.json()["state"] == "done")
    kwargs.setdefault("poke_interval", 0)
    kwargs.setdefault("retry", {"max_attempts": 1})
    return OAuthConnectorSensor(task_id="s", oauth_conn_id="my_api", endpoint="jobs/1", **kwargs)


def test_poke_until_the_check_holds(api):
    api.replies += [(200, {}, {"state": "running"}), (404, {}, {"error": "not yet"})]
    s = sensor(request_params={"verbose": "1"})
    assert s.poke({}) is False
    assert s.poke({}) is False  # 404: not yet, like HttpSensor
    assert s.poke({}) is True
    assert query(api.calls(f"{API}/jobs")[0]) == {"verbose": "1"}


def test_error_status_fails_and_allowlist_means_not_yet(api):
    api.replies += [(500, {}, {"error": "boom"}), (503, {}, {"error": "busy"})]
    with pytest.raises(ApiResponseError, match="500"):
        sensor().poke({})
    assert sensor(response_error_codes_allowlist=["503"]).poke({}) is False


def test_execute_in_poke_mode(api):
    api.replies += [(200, {}, {"state": "running"})] * 2
    sensor().execute({})
    assert len(api.calls(f"{API}/jobs")) == 3


def test_deferrable_polls_in_the_trigger_and_waits_in_a_timer(api):
    s = sensor(deferrable=True, poke_interval=7)
    with pytest.raises(TaskDeferred) as first:
        s.execute({})
    trigger = first.value.trigger
    assert isinstance(trigger, OAuthConnectorTrigger)
    assert trigger.check_response is False
    running = {"status": "success", "response": {"status_code": 200, "body": '{"state": "running"}'}}
    with pytest.raises(TaskDeferred) as pause:
        s.poll_complete({}, running, **first.value.kwargs)
    assert isinstance(pause.value.trigger, TimeDeltaTrigger)
    with pytest.raises(TaskDeferred) as again:
        s.poll_again({}, None, **pause.value.kwargs)
    assert again.value.method_name == "poll_complete"
    done = {"status": "success", "response": {"status_code": 200, "body": '{"state": "done"}'}}
    assert s.poll_complete({}, done, **again.value.kwargs) is True


def test_deferrable_timeout_and_trigger_errors(api):
    s = sensor(deferrable=True, timeout=1)
    running = {"status": "success", "response": {"status_code": 200, "body": '{"state": "running"}'}}
    with pytest.raises(AirflowSensorTimeout):
        s.poll_complete({}, running, started=0.0)
    with pytest.raises(DeferredCallFailed, match="ApiResponseError"):
        s.poll_complete({}, {"status": "error", "error_type": "ApiResponseError", "message": "x"}, started=0.0)
    typed = error_to_event(ApiResponseError("GET", "https://api.example.com/v1/x", 503, "Unavailable", ""))
    with pytest.raises(ApiResponseError) as raised:  # an event from the trigger keeps the error's type
        s.poll_complete({}, typed, started=0.0)
    assert raised.value.http_status == 503


def test_query_params_or_request_params():
    with pytest.raises(ValueError, match="not both"):
        OAuthConnectorSensor(task_id="s", query_params={}, request_params={})
    assert OAuthConnectorSensor(task_id="s", request_params={"a": 1}).request_params == {"a": 1}
