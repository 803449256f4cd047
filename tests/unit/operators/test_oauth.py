"""OAuthConnectorOperator.execute and execute_complete against a fake HTTP transport (no sockets)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from airflow_oauth_connector.exceptions import ApiResponseError, OAuthConnectorError
from airflow_oauth_connector.operators import OAuthConnectorOperator, ResponseCheckFailed
from airflow_oauth_connector.pagination import (
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PageRequest,
)
from airflow_oauth_connector.triggers.oauth import response_to_event
from tests.support.airflow_compat import TaskDeferred
from tests.support.builders import API_URL, CLIENT_SECRET, CONN_ID, TOKEN_URL, make_response, set_connection
from tests.support.fake_http import FakeTransport, Reply, TokenServer, bearer, intercept, query

TOTAL = 25


def items(request: requests.PreparedRequest) -> Reply:
    """``GET /items?page=N&per_page=M`` (or ``offset``/``limit``): a slice of ids 1..TOTAL with the total."""
    q = query(request)
    size = int(q.get("per_page") or q.get("limit") or 10)
    start = int(q["offset"]) if "offset" in q else (int(q.get("page", 1)) - 1) * size
    ids = list(range(start + 1, min(start + size, TOTAL) + 1))
    return 200, {}, {"items": [{"id": i} for i in ids], "total": TOTAL}


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeTransport:
    """The connection ``my_api`` and a fake transport for its token endpoint and API."""
    set_connection(monkeypatch, CONN_ID)
    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, TokenServer())
    transport.route("GET", f"{API_URL}/items", items)
    transport.route("*", f"{API_URL}/echo", echo)
    transport.route("GET", f"{API_URL}/status/", status)
    transport.route("GET", f"{API_URL}/text", lambda r: (200, {"Content-Type": "text/plain"}, "plain words"))
    return intercept(monkeypatch, transport)


def echo(request: requests.PreparedRequest) -> Reply:
    body = request.body.decode() if isinstance(request.body, bytes) else request.body
    return 200, {}, {"method": request.method, "headers": dict(request.headers), "query": query(request), "body": body}


def status(request: requests.PreparedRequest) -> Reply:
    code = int(str(request.url).rsplit("/", 1)[1])
    return code, {}, {"error": "as asked", "status": code}


def operator(**kwargs: Any) -> OAuthConnectorOperator:
    kwargs.setdefault("task_id", "call_api")
    kwargs.setdefault("oauth_conn_id", CONN_ID)
    kwargs.setdefault("retry", {"backoff_initial": 0})
    return OAuthConnectorOperator(**kwargs)


def api_calls(transport: FakeTransport) -> list[requests.PreparedRequest]:
    return transport.calls(API_URL)


def ti() -> SimpleNamespace:
    return SimpleNamespace(dag_id="d", run_id="manual__1", task_id="call_api", map_index=-1, try_number=1)


def test_single_call_returns_the_parsed_body_and_sends_method_query_body_and_headers(api: FakeTransport) -> None:
    result = operator(
        endpoint="echo", method="POST", query_params={"q": "1"}, json={"a": 1}, headers={"X-Custom": "yes"}
    ).execute({})
    assert result["method"] == "POST"
    assert result["query"] == {"q": "1"}
    assert json.loads(result["body"]) == {"a": 1}
    assert result["headers"]["X-Custom"] == "yes"
    (sent,) = api_calls(api)
    assert bearer(sent) == "access-1"
    assert len(api.calls(TOKEN_URL)) == 1


def test_a_non_json_body_is_returned_as_text(api: FakeTransport) -> None:
    assert operator(endpoint="text").execute({}) == "plain words"


def test_pagination_combines_the_records_of_every_page(api: FakeTransport) -> None:
    records = operator(endpoint="items", pagination=PageNumberPaginator(per_page=10, records_path="items")).execute({})
    assert [r["id"] for r in records] == list(range(1, TOTAL + 1))
    assert [query(r)["page"] for r in api_calls(api)] == ["1", "2", "3"]
    assert len(api.calls(TOKEN_URL)) == 1  # one token for every page


def test_combine_pages_gives_one_body_per_page(api: FakeTransport) -> None:
    pages = operator(
        endpoint="items", pagination=OffsetPaginator(limit=10, records_path="items"), combine="pages"
    ).execute({})
    assert [len(p["items"]) for p in pages] == [10, 10, 5]
    assert all(p["total"] == TOTAL for p in pages)


def test_without_records_path_the_default_combine_is_pages(api: FakeTransport) -> None:
    pages = operator(endpoint="items", pagination=OffsetPaginator(limit=10, total_path="total")).execute({})
    assert [[r["id"] for r in p["items"]] for p in pages] == [
        list(range(1, 11)),
        list(range(11, 21)),
        [21, 22, 23, 24, 25],
    ]
    assert [query(r)["offset"] for r in api_calls(api)] == ["0", "10", "20"]


def test_combine_must_be_records_or_pages() -> None:
    with pytest.raises(ValueError, match="combine must be 'records' or 'pages'"):
        operator(endpoint="items", combine="rows")


def test_response_check_runs_for_every_page_with_the_context_keys_it_asks_for(api: FakeTransport) -> None:
    seen: list[tuple[int, str | None]] = []

    def check(response: requests.Response, ds: str | None = None) -> bool:
        seen.append((response.status_code, ds))
        return True

    paginator = PageNumberPaginator(per_page=10, records_path="items")
    operator(endpoint="items", pagination=paginator, response_check=check).execute({"ds": "2026-12-01", "x": 1})
    assert seen == [(200, "2026-12-01")] * 3


def test_a_false_response_check_fails_with_method_status_and_a_secret_free_excerpt(api: FakeTransport) -> None:
    with pytest.raises(ResponseCheckFailed) as info:
        operator(endpoint="echo", response_check=lambda response: False).execute({})
    message = str(info.value)
    assert message.startswith("response_check failed for GET page (HTTP 200): ")
    assert '"method": "GET"' in message  # the excerpt of the body
    assert "access-1" not in message  # the echoed Authorization header is scrubbed
    assert CLIENT_SECRET not in message


def test_a_false_response_check_on_a_later_page_stops_the_pagination(api: FakeTransport) -> None:
    def first_page_only(response: requests.Response) -> bool:
        return query(response.request)["page"] == "1"

    paginator = PageNumberPaginator(per_page=10, records_path="items")
    with pytest.raises(ResponseCheckFailed, match="HTTP 200"):
        operator(endpoint="items", pagination=paginator, response_check=first_page_only).execute({})
    assert [query(r)["page"] for r in api_calls(api)] == ["1", "2"]


def test_response_filter_gets_the_response_or_with_pagination_the_list_of_responses(api: FakeTransport) -> None:
    assert operator(endpoint="echo", response_filter=lambda response: response.status_code).execute({}) == 200
    paginator = OffsetPaginator(limit=10, records_path="items")
    sizes = operator(
        endpoint="items",
        pagination=paginator,
        response_filter=lambda responses: [len(r.content) > 0 for r in responses],
    ).execute({})
    assert sizes == [True, True, True]


def test_response_filter_with_var_keywords_receives_the_whole_context(api: FakeTransport) -> None:
    got: dict[str, Any] = {}

    def keep(response: requests.Response, **context: Any) -> int:
        got.update(context)
        return response.status_code

    assert operator(endpoint="echo", response_filter=keep).execute({"ds": "2026-12-01", "run_id": "r"}) == 200
    assert got == {"ds": "2026-12-01", "run_id": "r"}


def test_non_2xx_fails_the_task_unless_check_response_is_off(api: FakeTransport) -> None:
    with pytest.raises(ApiResponseError) as info:
        operator(endpoint="status/404").execute({})
    assert info.value.http_status == 404
    assert "access-1" not in str(info.value)

    result = operator(
        endpoint="status/404",
        check_response=False,
        response_check=lambda response: response.status_code == 404,
        response_filter=lambda response: response.json()["status"],
    ).execute({})
    assert result == 404


def test_the_summary_log_names_pages_records_and_statuses_never_the_body_or_token(
    api: FakeTransport, capfd: pytest.CaptureFixture[str]
) -> None:
    operator(endpoint="items", pagination=PageNumberPaginator(per_page=10, records_path="items")).execute({})
    out = capfd.readouterr().out  # the task logger writes through Airflow's structlog set-up
    summary = [line for line in out.splitlines() if "page(s)" in line]
    assert len(summary) == 1
    assert "GET items: 3 page(s), 25 record(s), " in summary[0]
    assert "bytes, HTTP 200" in summary[0]
    assert "access-1" not in out
    assert '"id": 1' not in out


def test_log_response_false_logs_no_summary(api: FakeTransport, capfd: pytest.CaptureFixture[str]) -> None:
    operator(endpoint="echo", log_response=False).execute({})
    assert "page(s)" not in capfd.readouterr().out


def test_deferrable_execute_defers_with_a_secret_free_trigger_and_an_at_most_once_marker(api: FakeTransport) -> None:
    paginator = PageNumberPaginator(per_page=10, records_path="items")
    task = operator(endpoint="items", method="POST", json={"q": 1}, pagination=paginator, deferrable=True)
    with pytest.raises(TaskDeferred) as info:
        task.execute({"ti": ti()})
    deferred = info.value
    assert deferred.method_name == "execute_complete"
    classpath, kwargs = deferred.trigger.serialize()
    assert classpath == "airflow_oauth_connector.triggers.oauth.OAuthConnectorTrigger"
    assert kwargs["oauth_conn_id"] == CONN_ID
    assert kwargs["request"] == {"endpoint": "items", "params": {"page": 1, "per_page": 10}, "number": 1}
    assert kwargs["marker"] == "request:d:manual__1:call_api:-1:1:1"
    assert kwargs["retry"] == {"backoff_initial": 0}
    assert CLIENT_SECRET not in json.dumps([kwargs, deferred.kwargs])
    assert deferred.kwargs == {"request": kwargs["request"], "done": []}
    assert api.requests == []  # nothing was sent from the worker


def page_event(page: int) -> dict[str, Any]:
    request = requests.Request("GET", f"{API_URL}/items?page={page}&per_page=10").prepare()
    status, headers, body = items(request)
    return {"status": "success", "response": response_to_event(make_response(status, body, headers, request=request))}


def test_execute_complete_defers_for_the_next_page_then_returns_every_record(api: FakeTransport) -> None:
    paginator = PageNumberPaginator(per_page=10, records_path="items")
    task = operator(endpoint="items", pagination=paginator, deferrable=True)
    request = paginator.first_request(PageRequest("items")).serialize()
    done: list[dict[str, Any]] = []
    for number in (1, 2):
        with pytest.raises(TaskDeferred) as info:
            task.execute_complete({"ti": ti()}, page_event(number), request, done)
        request, done = info.value.kwargs["request"], info.value.kwargs["done"]
        assert request["params"]["page"] == number + 1
        assert info.value.trigger.serialize()[1]["request"] == request
        assert len(done) == number
    records = task.execute_complete({"ti": ti()}, page_event(3), request, done)
    assert [r["id"] for r in records] == list(range(1, TOTAL + 1))
    assert api.requests == []


def test_execute_complete_checks_each_deferred_page(api: FakeTransport) -> None:
    task = operator(endpoint="items", response_check=lambda response: False, deferrable=True)
    with pytest.raises(ResponseCheckFailed, match=r"HTTP 200"):
        task.execute_complete({}, page_event(1), PageRequest("items").serialize(), [])


def test_execute_complete_raises_the_triggers_error_with_its_message(api: FakeTransport) -> None:
    event = {"status": "error", "error_type": "ApiResponseError", "message": "GET items failed: HTTP 500"}
    with pytest.raises(OAuthConnectorError, match="GET items failed: HTTP 500"):
        operator(endpoint="items", deferrable=True).execute_complete({}, event, PageRequest("items").serialize(), [])


@pytest.mark.parametrize(
    ("paginator", "expected_pages"),
    [
        (NextUrlPaginator(next_path="next", records_path="items"), 2),
        (LinkHeaderPaginator(records_path="items"), 2),
    ],
    ids=["next-url", "link-header"],
)
def test_link_following_paginators_stay_on_the_api_origin(
    api: FakeTransport, paginator: Any, expected_pages: int
) -> None:
    def linked(request: requests.PreparedRequest) -> Reply:
        second = query(request).get("page") == "2"
        body: dict[str, Any] = {"items": [{"id": 2 if second else 1}], "next": None if second else "/v1/linked?page=2"}
        headers = {} if second else {"Link": '</v1/linked?page=2>; rel="next"'}
        return 200, headers, body

    api.route("GET", f"{API_URL}/linked", linked)
    records = operator(endpoint="linked", pagination=paginator).execute({})
    assert [r["id"] for r in records] == [1, 2]
    assert len(api_calls(api)) == expected_pages
    assert all(bearer(r) == "access-1" for r in api_calls(api))
