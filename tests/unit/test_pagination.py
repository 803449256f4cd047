from __future__ import annotations

import json

import pytest
import requests

from airflow_oauth_connector.pagination import (
    CursorPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    Page,
    PageNumberPaginator,
    PageRequest,
    PaginationError,
    Paginator,
    iterate_pages,
    json_path,
)
from tests.support.builders import make_response


def response(body, *, url="https://api.example.com/items", headers=None) -> requests.Response:
    return make_response(200, body, headers, url=url)


def page(request: PageRequest, body, **kwargs) -> Page:
    return Page(request=request, response=response(body, **kwargs), data=body, records=None)


def test_json_path():
    data = {"a": {"b": [{"c": 1}, {"c": 2}]}}
    assert json_path(data, "a.b.1.c") == 2
    assert json_path(data, "a.b.-1.c") == 2
    assert json_path(data, "a.x", "d") == "d"
    assert json_path(data, "a.b.7") is None
    assert json_path(data, "") is data


def test_page_request_round_trips_through_json():
    request = PageRequest("items", {"cursor": "abc"}, number=3)
    assert PageRequest.deserialize(json.loads(json.dumps(request.serialize()))) == request


def test_next_url_is_resolved_against_the_page_url():
    first = PageRequest("items")
    nxt = NextUrlPaginator("links.next").next_request(first, page(first, {"links": {"next": "/items?page=2"}}))
    assert nxt == PageRequest("https://api.example.com/items?page=2", {}, 2)
    assert NextUrlPaginator("links.next").next_request(first, page(first, {"links": {"next": None}})) is None
    with pytest.raises(PaginationError):
        NextUrlPaginator("links.next").next_request(first, page(first, {"links": {"next": 5}}))


def test_link_header():
    first = PageRequest("items")
    link = '<https://api.example.com/items?page=2>; rel="next", <https://api.example.com/items?page=9>; rel="last"'
    nxt = LinkHeaderPaginator().next_request(first, page(first, [], headers={"Link": link}))
    assert nxt is not None
    assert nxt.endpoint == "https://api.example.com/items?page=2"
    assert LinkHeaderPaginator().next_request(first, page(first, [])) is None


def test_cursor_stops_on_missing_or_repeated_cursor():
    paginator = CursorPaginator(limit=5)
    first = paginator.first_request(PageRequest("items", {"q": "x"}))
    assert first.params == {"q": "x", "limit": 5}
    second = paginator.next_request(first, page(first, {"next_cursor": "c1"}))
    assert second is not None
    assert second.params == {"q": "x", "limit": 5, "cursor": "c1"}
    assert paginator.next_request(second, page(second, {"next_cursor": "c1"})) is None
    assert paginator.next_request(second, page(second, {"next_cursor": ""})) is None


def test_offset_and_page_number_stop_conditions():
    offset = OffsetPaginator(limit=10, total_path="total")
    req = offset.first_request(PageRequest("items"))
    full = Page(req, response({}), {"total": 25}, records=list(range(10)))
    nxt = offset.next_request(req, full)
    assert nxt is not None
    assert nxt.params["offset"] == 10
    last = offset.next_request(nxt.with_params(offset=20), Page(req, response({}), {"total": 25}, list(range(5))))
    assert last is None

    numbers = PageNumberPaginator(total_pages_path="pages")
    req = numbers.first_request(PageRequest("items"))
    assert req.params == {"page": 1}
    assert numbers.next_request(req, page(req, {"pages": 1})) is None
    assert numbers.next_request(req, page(req, {"pages": 2})).params == {"page": 2}
    with pytest.raises(PaginationError):
        OffsetPaginator(limit=1, total_path="total").next_request(req, page(req, {"total": "many"}))


def test_invalid_arguments():
    with pytest.raises(ValueError, match="max_pages"):
        OffsetPaginator(max_pages=0)
    with pytest.raises(ValueError, match="limit"):
        OffsetPaginator(limit=0)
    with pytest.raises(PaginationError, match="records_path"):
        Paginator(records_path="a").records({"a": {"not": "a list"}})


def test_iterate_pages_stops_at_max_pages_and_on_empty_page():
    class Forever(Paginator):
        def next_request(self, request, page):
            return request.with_params(n=request.number + 1)

    sent: list[PageRequest] = []

    def send(request):
        sent.append(request)
        return response({"items": [1]})

    pages = list(iterate_pages(send, PageRequest("items"), Forever(records_path="items", max_pages=4)))
    assert len(pages) == 4
    assert [p.request.number for p in pages] == [1, 2, 3, 4]

    def empty(request):
        return response({"items": []})

    assert len(list(iterate_pages(empty, PageRequest("items"), Forever(records_path="items")))) == 1


def test_iterate_pages_resume_skips_first_request_setup():
    paginator = PageNumberPaginator(per_page=2)
    resumed = PageRequest("items", {"page": 3, "per_page": 2}, number=3)
    seen = []
    list(iterate_pages(lambda r: seen.append(r) or response([]), resumed, paginator, resume=True))
    assert seen == [resumed]


def test_records_path_empty_means_the_body_is_the_list_and_null_means_no_records():
    assert Paginator(records_path="").records([1, 2]) == [1, 2]
    assert Paginator(records_path="data.items").records({"data": {"items": None}}) == []
    assert Paginator(records_path="data.items").records({"data": {}}) == []
    assert Paginator().records([3]) == [3]  # no records_path: a list body is the records
    assert Paginator().records({"items": [3]}) is None  # ... and an object body has none known


def test_stop_on_empty_false_reads_past_an_empty_page_until_the_cursor_ends():
    bodies = iter([{"items": [1], "next_cursor": "a"}, {"items": [], "next_cursor": "b"}, {"items": [2]}])
    paginator = CursorPaginator(records_path="items", stop_on_empty=False)
    pages = list(iterate_pages(lambda r: response(next(bodies)), PageRequest("items"), paginator))
    assert [p.records for p in pages] == [[1], [], [2]]
    assert [p.request.params.get("cursor") for p in pages] == [None, "a", "b"]


def test_cursor_without_limit_leaves_the_first_request_alone():
    first = PageRequest("items", {"q": "x"})
    assert CursorPaginator().first_request(first) == first


def test_max_pages_none_is_unbounded_until_the_strategy_ends():
    bodies = iter([{"next": f"/items?page={n}"} for n in range(2, 1502)] + [{"next": None}])
    paginator = NextUrlPaginator(max_pages=None)
    pages = list(iterate_pages(lambda r: response(next(bodies)), PageRequest("items"), paginator))
    assert len(pages) == 1501  # past the default bound of 1000


def test_page_number_stops_at_a_short_page_or_the_total_and_honours_start():
    numbers = PageNumberPaginator(per_page=10, total_path="total", start=0, records_path="items")
    first = numbers.first_request(PageRequest("items"))
    assert first.params == {"page": 0, "per_page": 10}
    full = Page(first, response({}), {"total": 30, "items": list(range(10))}, list(range(10)))
    second = numbers.next_request(first, full)
    assert second is not None
    assert second.params["page"] == 1
    third = second.with_params(page=2)
    assert numbers.next_request(third, Page(third, response({}), {"total": 30}, list(range(10)))) is None  # 30 seen
    short = Page(second, response({}), {"total": 99}, list(range(4)))
    assert numbers.next_request(second, short) is None  # a short page is the last


def test_offset_total_counts_from_the_start_offset():
    offset = OffsetPaginator(limit=10, start=100, total_path="total")
    first = offset.first_request(PageRequest("items"))
    assert first.params == {"offset": 100, "limit": 10}
    nxt = offset.next_request(first, Page(first, response({}), {"total": 20}, list(range(10))))
    assert nxt is not None
    assert nxt.params["offset"] == 110
    assert offset.next_request(nxt, Page(nxt, response({}), {"total": 20}, list(range(10)))) is None


def test_link_header_relative_url_is_resolved_against_the_page_url():
    first = PageRequest("items")
    nxt = LinkHeaderPaginator().next_request(
        first, page(first, [], url="https://api.example.com/v1/items?page=1", headers={"Link": '<?page=2>; rel="next"'})
    )
    assert nxt is not None
    assert nxt.endpoint == "https://api.example.com/v1/items?page=2"


def test_without_a_paginator_there_is_one_page():
    sent: list[PageRequest] = []
    pages = list(iterate_pages(lambda r: sent.append(r) or response({"a": 1}), PageRequest("items"), None))
    assert len(pages) == 1
    assert pages[0].records is None
    assert sent == [PageRequest("items")]
