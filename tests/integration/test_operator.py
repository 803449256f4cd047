"""OAuthConnectorOperator and every pagination strategy against the real server's paginated API."""

from __future__ import annotations

import json

import pytest

from airflow_oauth_connector.exceptions import ApiResponseError, ForeignOriginError
from airflow_oauth_connector.operators import OAuthConnectorOperator, ResponseCheckFailed
from airflow_oauth_connector.pagination import (
    CursorPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageNumberPaginator,
)
from tests.support.connections import connection

pytestmark = pytest.mark.integration

TOTAL = 95
ALL_IDS = list(range(1, TOTAL + 1))


@pytest.fixture
def cc_conn(monkeypatch, auth_server):
    monkeypatch.setenv("AIRFLOW_CONN_OAUTH_TEST_CC", json.dumps(connection(auth_server)))
    return "oauth_test_cc"


def run(conn_id: str, **kwargs):
    kwargs.setdefault("task_id", "t")
    return OAuthConnectorOperator(oauth_conn_id=conn_id, **kwargs).execute({})


def ids(records) -> list[int]:
    return [r["id"] for r in records]


@pytest.mark.parametrize(
    ("query", "paginator"),
    [
        ({"per_page": 10}, PageNumberPaginator(per_page=10, records_path="items")),
        ({}, PageNumberPaginator(per_page=10, per_page_param="per_page", records_path="items", total_path="total")),
        ({}, OffsetPaginator(limit=20, records_path="items", total_path="total")),
        ({}, OffsetPaginator(limit=19, records_path="items")),
        ({"style": "cursor"}, CursorPaginator(limit=30, records_path="items")),
        ({"style": "next_url", "per_page": 25}, NextUrlPaginator(next_path="links.next", records_path="data")),
        ({"style": "link_header", "per_page": 40}, LinkHeaderPaginator(records_path="")),
    ],
    ids=["page-short-page", "page-total", "offset-total", "offset-short-page", "cursor", "next-url", "link-header"],
)
def test_each_strategy_reads_every_record_once(cc_conn, fresh_stats, query, paginator):
    records = run(cc_conn, endpoint="items", query_params={"total": TOTAL, **query}, pagination=paginator)
    assert ids(records) == ALL_IDS
    assert fresh_stats.stats()["token_requests"]["total"] == 1


def test_pages_are_counted_and_max_pages_bounds_them(cc_conn, fresh_stats):
    records = run(
        cc_conn,
        endpoint="items",
        query_params={"total": TOTAL},
        pagination=OffsetPaginator(limit=10, records_path="items", max_pages=3),
    )
    assert ids(records) == list(range(1, 31))
    assert fresh_stats.stats()["api_requests"]["by_path"]["/api/items"] == 3


def test_stop_on_empty_page(cc_conn, fresh_stats):
    # exactly 40 records with pages of 20: the third page is empty and ends the loop
    records = run(
        cc_conn,
        endpoint="items",
        query_params={"total": 40},
        pagination=OffsetPaginator(limit=20, records_path="items"),
    )
    assert len(records) == 40
    assert fresh_stats.stats()["api_requests"]["by_path"]["/api/items"] == 3


def test_combine_pages(cc_conn):
    pages = run(
        cc_conn,
        endpoint="items",
        query_params={"total": 25},
        pagination=PageNumberPaginator(per_page=10, records_path="items"),
        combine="pages",
    )
    assert [len(p["items"]) for p in pages] == [10, 10, 5]


def test_next_link_to_another_host_is_refused(cc_conn, auth_server, fresh_stats):
    # the API's next link points at the same server through another origin (localhost vs 127.0.0.1)
    class ForeignNext(NextUrlPaginator):
        def next_request(self, request, page):
            nxt = super().next_request(request, page)
            return nxt and nxt.to_url(nxt.endpoint.replace("127.0.0.1", "localhost"))

    with pytest.raises(ForeignOriginError):
        run(
            cc_conn,
            endpoint="items",
            query_params={"style": "next_url", "total": 30, "per_page": 10},
            pagination=ForeignNext(next_path="links.next", records_path="data"),
        )
    assert fresh_stats.stats()["api_requests"]["total"] == 1


def test_post_with_response_check_and_filter(cc_conn):
    result = run(
        cc_conn,
        endpoint="echo",
        method="POST",
        json={"a": 1},
        headers={"X-Custom": "yes"},
        response_check=lambda response: response.json()["method"] == "POST",
        response_filter=lambda response: response.json()["json"],
    )
    assert result == {"a": 1}


def test_failed_response_check_fails_with_status_and_excerpt(cc_conn):
    with pytest.raises(ResponseCheckFailed, match="HTTP 200"):
        run(cc_conn, endpoint="whoami", response_check=lambda response: False)


def test_non_2xx_fails_the_task_without_leaking_the_token(cc_conn):
    with pytest.raises(ApiResponseError) as info:
        run(cc_conn, endpoint="status/404")
    assert info.value.http_status == 404


def test_response_check_can_accept_an_error_status(cc_conn):
    result = run(
        cc_conn,
        endpoint="status/404",
        check_response=False,
        response_check=lambda response: response.status_code == 404,
        response_filter=lambda response: response.status_code,
    )
    assert result == 404


def test_response_filter_receives_context_keys(cc_conn):
    seen = {}

    def keep(response, ds=None, **_):
        seen["ds"] = ds
        return response.status_code

    assert (
        OAuthConnectorOperator(task_id="t", oauth_conn_id=cc_conn, endpoint="whoami", response_filter=keep).execute(
            {"ds": "2026-11-29"}
        )
        == 200
    )
    assert seen["ds"] == "2026-11-29"
