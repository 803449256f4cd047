"""ApiCall: one page's request through the hook, the same on every page (fake transport, no sockets)."""

from __future__ import annotations

import json

import pytest
import requests

from airflow_oauth_connector.calls import ApiCall
from airflow_oauth_connector.exceptions import ApiResponseError
from airflow_oauth_connector.hooks import OAuthConnectorHook
from airflow_oauth_connector.pagination import PageRequest
from tests.support.builders import API_URL, CONN_ID, TOKEN_URL, set_connection
from tests.support.fake_http import FakeTransport, Reply, TokenServer, bearer, intercept, query


def echo(request: requests.PreparedRequest) -> Reply:
    if "fail" in query(request):
        return 500, {}, {"error": "boom"}
    return 200, {}, {"ok": True}


@pytest.fixture
def transport(monkeypatch: pytest.MonkeyPatch) -> FakeTransport:
    set_connection(monkeypatch, CONN_ID)
    fake = FakeTransport()
    fake.route("POST", TOKEN_URL, TokenServer())
    fake.route("*", API_URL, echo)
    return intercept(monkeypatch, fake)


def hook() -> OAuthConnectorHook:
    return OAuthConnectorHook(CONN_ID, retry={"backoff_initial": 0, "max_attempts": 1})


def test_each_page_sends_the_calls_method_body_and_headers_with_the_pages_endpoint_and_query(
    transport: FakeTransport,
) -> None:
    call = ApiCall(method="PATCH", json={"a": 1}, headers={"X-Custom": "yes"})
    the_hook = hook()
    for number in (1, 2):
        response = call.send(the_hook, PageRequest("items", {"page": number}, number=number))
        assert response.status_code == 200
    sent = transport.calls(API_URL)
    assert [(r.method, r.url) for r in sent] == [
        ("PATCH", f"{API_URL}/items?page=1"),
        ("PATCH", f"{API_URL}/items?page=2"),
    ]
    assert all(json.loads(r.body) == {"a": 1} and r.headers["X-Custom"] == "yes" for r in sent)
    assert all(bearer(r) == "access-1" for r in sent)


def test_form_data_is_sent_as_the_body_never_as_the_query(transport: FakeTransport) -> None:
    ApiCall(method="POST", data={"k": "v"}).send(hook(), PageRequest("items"))
    (sent,) = transport.calls(API_URL)
    assert sent.body == "k=v"
    assert query(sent) == {}


def test_check_response_decides_whether_a_non_2xx_page_raises(transport: FakeTransport) -> None:
    with pytest.raises(ApiResponseError):
        ApiCall().send(hook(), PageRequest("items", {"fail": 1}))
    assert ApiCall(check_response=False).send(hook(), PageRequest("items", {"fail": 1})).status_code == 500
