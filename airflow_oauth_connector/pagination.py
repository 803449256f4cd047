"""
Pagination strategies: small objects that turn one page's response into the next page's request.

Each strategy answers ``next_request(request, page) -> PageRequest | None``; ``None`` stops. The loop in
:func:`iterate_pages` adds the stop conditions shared by all (empty page, ``max_pages``). Subclass
:class:`Paginator` for an API with its own scheme. Strategies hold no state between pages, so a
paginated call can be resumed from any :class:`PageRequest` (which is JSON-serialisable).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import requests

from airflow_oauth_connector.exceptions import PaginationError

log = logging.getLogger(__name__)


def json_path(data: Any, path: str | None, default: Any = None) -> Any:
    """
    Value at a dotted path: ``"data.items"``, ``"links.next"``, ``"results.0.id"``.

    An empty or ``None`` path is the document itself. Missing keys give ``default``.
    """
    if not path:
        return data
    current = data
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit() and -len(current) <= int(part) < len(current):
            current = current[int(part)]
        else:
            return default
    return current


@dataclass(frozen=True)
class PageRequest:
    """One request of a paginated call; JSON-serialisable so a deferred call can resume from it."""

    endpoint: str | None
    params: Mapping[str, Any] = field(default_factory=dict)
    number: int = 1

    def with_params(self, **changes: Any) -> PageRequest:
        params = {**self.params, **{k: v for k, v in changes.items()}}
        return dataclasses.replace(self, params=params, number=self.number + 1)

    def to_url(self, url: str) -> PageRequest:
        """The next request is a full URL (its own query string replaces ``params``)."""
        return PageRequest(endpoint=url, params={}, number=self.number + 1)

    def serialize(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "params": dict(self.params), "number": self.number}

    @classmethod
    def deserialize(cls, data: Mapping[str, Any]) -> PageRequest:
        return cls(endpoint=data.get("endpoint"), params=dict(data.get("params") or {}), number=int(data["number"]))


@dataclass
class Page:
    """A fetched page: its response, parsed body and the records found at ``records_path``."""

    request: PageRequest
    response: requests.Response
    data: Any
    records: list[Any] | None


class Paginator:
    """
    Base class. ``records_path`` says where a page's records are (``""``: the body is the list);
    ``max_pages`` bounds the number of requests; ``stop_on_empty`` stops at a page with no records.
    """

    def __init__(self, *, records_path: str | None = None, max_pages: int | None = 1000, stop_on_empty: bool = True):
        if max_pages is not None and max_pages < 1:
            raise ValueError("max_pages must be at least 1")
        self.records_path = records_path
        self.max_pages = max_pages
        self.stop_on_empty = stop_on_empty

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"

    def first_request(self, request: PageRequest) -> PageRequest:
        """The first request; override to add e.g. ``page=1`` or ``limit``."""
        return request

    def next_request(self, request: PageRequest, page: Page) -> PageRequest | None:
        """The request for the page after ``page``, or ``None`` when there is none."""
        raise NotImplementedError

    def records(self, data: Any) -> list[Any] | None:
        if self.records_path is None:
            return data if isinstance(data, list) else None
        value = json_path(data, self.records_path)
        if value is None:
            return []
        if not isinstance(value, list):
            raise PaginationError(f"records_path {self.records_path!r} does not point to a list")
        return value


class NextUrlPaginator(Paginator):
    """The next page's URL is in the body, e.g. ``{"links": {"next": "https://…?page=2"}}``."""

    def __init__(self, next_path: str = "next", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.next_path = next_path

    def next_request(self, request: PageRequest, page: Page) -> PageRequest | None:
        url = json_path(page.data, self.next_path)
        if not url:
            return None
        if not isinstance(url, str):
            raise PaginationError(f"next_path {self.next_path!r} is not a URL")
        return request.to_url(urljoin(page.response.url, url))


class LinkHeaderPaginator(Paginator):
    """The next page's URL is in an RFC 8288 ``Link: <…>; rel="next"`` header (GitHub style)."""

    def __init__(self, rel: str = "next", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rel = rel

    def next_request(self, request: PageRequest, page: Page) -> PageRequest | None:
        link = page.response.links.get(self.rel)
        if not link or not link.get("url"):
            return None
        return request.to_url(urljoin(page.response.url, link["url"]))


class CursorPaginator(Paginator):
    """An opaque cursor from the body (``cursor_path``) goes into a query parameter (``cursor_param``)."""

    def __init__(
        self,
        cursor_path: str = "next_cursor",
        cursor_param: str = "cursor",
        *,
        limit: int | None = None,
        limit_param: str = "limit",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cursor_path = cursor_path
        self.cursor_param = cursor_param
        self.limit = limit
        self.limit_param = limit_param

    def first_request(self, request: PageRequest) -> PageRequest:
        if self.limit is None:
            return request
        return dataclasses.replace(request, params={**request.params, self.limit_param: self.limit})

    def next_request(self, request: PageRequest, page: Page) -> PageRequest | None:
        cursor = json_path(page.data, self.cursor_path)
        if cursor in (None, "") or cursor == request.params.get(self.cursor_param):
            return None
        return request.with_params(**{self.cursor_param: cursor})


class OffsetPaginator(Paginator):
    """``offset``/``limit`` parameters; stops at a short page or when ``total_path``'s total is reached."""

    def __init__(
        self,
        limit: int = 100,
        *,
        offset_param: str = "offset",
        limit_param: str = "limit",
        start: int = 0,
        total_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.offset_param = offset_param
        self.limit_param = limit_param
        self.start = start
        self.total_path = total_path

    def first_request(self, request: PageRequest) -> PageRequest:
        params = {**request.params, self.offset_param: self.start, self.limit_param: self.limit}
        return dataclasses.replace(request, params=params)

    def next_request(self, request: PageRequest, page: Page) -> PageRequest | None:
        offset = int(request.params.get(self.offset_param, self.start)) + self.limit
        if _total_reached(page.data, self.total_path, offset - self.start):
            return None
        if page.records is not None and len(page.records) < self.limit:
            return None
        return request.with_params(**{self.offset_param: offset})


class PageNumberPaginator(Paginator):
    """``page`` (and optionally ``per_page``) parameters; stops at a short/empty page or a known total."""

    def __init__(
        self,
        *,
        page_param: str = "page",
        start: int = 1,
        per_page: int | None = None,
        per_page_param: str = "per_page",
        total_path: str | None = None,
        total_pages_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.page_param = page_param
        self.start = start
        self.per_page = per_page
        self.per_page_param = per_page_param
        self.total_path = total_path
        self.total_pages_path = total_pages_path

    def first_request(self, request: PageRequest) -> PageRequest:
        params = {**request.params, self.page_param: self.start}
        if self.per_page is not None:
            params[self.per_page_param] = self.per_page
        return dataclasses.replace(request, params=params)

    def next_request(self, request: PageRequest, page: Page) -> PageRequest | None:
        current = int(request.params.get(self.page_param, self.start))
        pages_done = current - self.start + 1
        total_pages = json_path(page.data, self.total_pages_path) if self.total_pages_path else None
        if isinstance(total_pages, (int, float)) and pages_done >= total_pages:
            return None
        if self.per_page is not None:
            if _total_reached(page.data, self.total_path, pages_done * self.per_page):
                return None
            if page.records is not None and len(page.records) < self.per_page:
                return None
        return request.with_params(**{self.page_param: current + 1})


def _total_reached(data: Any, total_path: str | None, seen: int) -> bool:
    if not total_path:
        return False
    total = json_path(data, total_path)
    try:
        return total is not None and seen >= int(total)
    except (TypeError, ValueError):
        raise PaginationError(f"total_path {total_path!r} is not a number") from None


def parse_body(response: requests.Response) -> Any:
    """Parsed JSON, or ``None`` for an empty or non-JSON body."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def following_request(paginator: Paginator | None, page: Page) -> PageRequest | None:
    """The request after ``page``: ``None`` at the end, at an empty page, or at ``max_pages``."""
    if paginator is None:
        return None
    if paginator.stop_on_empty and page.records is not None and not page.records:
        return None
    if paginator.max_pages is not None and page.request.number >= paginator.max_pages:
        log.info("Stopped after max_pages=%d pages", paginator.max_pages)
        return None
    return paginator.next_request(page.request, page)


def make_page(paginator: Paginator | None, request: PageRequest, response: requests.Response) -> Page:
    data = parse_body(response)
    records = paginator.records(data) if paginator is not None else None
    return Page(request=request, response=response, data=data, records=records)


def iterate_pages(
    send: Callable[[PageRequest], requests.Response],
    first: PageRequest,
    paginator: Paginator | None,
    *,
    resume: bool = False,
) -> Iterator[Page]:
    """
    Fetch pages until the strategy finds no next page, a page is empty, or ``max_pages`` is reached.

    ``send`` performs one request (through the hook, so auth and retries apply). With ``resume`` the
    ``first`` request is used as it is (a resumed call), not passed through ``first_request``.
    """
    request: PageRequest | None = first if (resume or paginator is None) else paginator.first_request(first)
    while request is not None:
        page = make_page(paginator, request, send(request))
        yield page
        request = following_request(paginator, page)
