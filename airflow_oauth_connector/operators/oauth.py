"""OAuthConnectorOperator: call an OAuth 2.0-protected API endpoint (with pagination) from a task."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_oauth_connector import config
from airflow_oauth_connector.calls import ApiCall
from airflow_oauth_connector.destinations.base import Destination, RunKey
from airflow_oauth_connector.exceptions import DeferredCallFailed as DeferredCallFailed
from airflow_oauth_connector.exceptions import IncrementalMarkError, ResponseCheckError
from airflow_oauth_connector.hooks.oauth import OAuthConnectorHook, RetryOverride
from airflow_oauth_connector.incremental import Incremental
from airflow_oauth_connector.pagination import (
    Page,
    PageRequest,
    Paginator,
    following_request,
    iterate_pages,
    make_page,
    parse_body,
)

if TYPE_CHECKING:
    import requests
    from airflow.sdk import Context

_EXCERPT = 200


class OAuthConnectorOperator(BaseOperator):
    """
    Calls ``endpoint`` of the API behind an ``oauth_connector`` connection; the hook injects the token.

    Arguments follow Airflow's ``HttpOperator`` where the meaning is the same.

    :param endpoint: path relative to the connection's API base URL (templated). An absolute URL must be
        on the same origin as the base URL.
    :param method: HTTP method (templated).
    :param query_params: URL query parameters (templated). Named so because ``params`` is Airflow's own
        operator argument (DAG params); unlike ``HttpOperator``, ``data`` is never turned into a query.
    :param json: JSON body (templated).
    :param data: form or raw body (templated).
    :param headers: extra request headers (templated).
    :param oauth_conn_id: the connection.
    :param response_check: ``callable(response, **context) -> bool``; a false result fails the task with
        the status and a short body excerpt. With pagination it is called for every page.
    :param response_filter: ``callable(response, **context)`` giving what goes to XCom; with pagination it
        receives the list of page responses. Default: the parsed JSON body (records combined when paginating).
    :param pagination: a :class:`~airflow_oauth_connector.pagination.Paginator` (or subclass).
    :param combine: with pagination and no ``response_filter``: ``"records"`` (one flat list of the records
        every page holds at the paginator's ``records_path``) or ``"pages"`` (a list of page bodies).
        Default: ``"records"`` when the paginator knows where the records are, else ``"pages"``.
    :param timeout: seconds per HTTP request (default: the connection's).
    :param retry: retry-policy overrides for this task's calls (a ``RetryPolicy`` or a mapping of fields).
    :param replayable: allow re-sending a non-idempotent request after an ambiguous failure.
    :param check_response: fail on a non-2xx status (after retries and one token refresh); set ``False``
        to let ``response_check`` judge every status.
    :param log_response: log a summary of the call (pages, records, bytes, statuses; never the body), and
        each page's status and size at DEBUG level.
    :param deferrable: make each call in the triggerer (one deferral per page), freeing the worker slot. The
        trigger's arguments hold no token or secret; it takes the token from the connection's token store.
        A non-replayable POST/PATCH is sent at most once, even if the triggerer restarts. Not with a
        ``destination`` (a load streams pages through one worker process): ``deferrable=True`` is refused
        there, and ``[operators] default_deferrable`` does not apply.
    :param destination: land the records instead of returning them: an
        :class:`~airflow_oauth_connector.destinations.ObjectStorageDestination` or
        :class:`~airflow_oauth_connector.destinations.SqlDestination` (its own fields are templated). Each
        page is written as it arrives (memory holds one page); the run's output becomes visible at once when
        the last page is in. The XCom value is a small manifest: ``records``, ``pages``, ``cursor`` (with
        ``incremental``) and the destination's keys (``files`` / ``table``, ``rows_written``).
    :param incremental: an :class:`~airflow_oauth_connector.incremental.Incremental`: the stored high-water
        mark is sent as ``request_param``; the new mark is stored only after the destination committed.
        Needs a ``destination``.
    """

    template_fields: Sequence[str] = (
        "endpoint",
        "method",
        "query_params",
        "json",
        "data",
        "headers",
        "destination",
    )
    template_fields_renderers = {"query_params": "json", "json": "json", "data": "py", "headers": "json"}
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        method: str = "GET",
        query_params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        oauth_conn_id: str = OAuthConnectorHook.default_conn_name,
        response_check: Callable[..., Any] | None = None,
        response_filter: Callable[..., Any] | None = None,
        pagination: Paginator | None = None,
        combine: str | None = None,
        timeout: float | None = None,
        retry: RetryOverride = None,
        replayable: bool | None = None,
        check_response: bool = True,
        log_response: bool = True,
        deferrable: bool | None = None,
        destination: Destination | None = None,
        incremental: Incremental | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if combine not in (None, "records", "pages"):
            raise ValueError("combine must be 'records' or 'pages'")
        _check_landing(destination, incremental, deferrable, response_filter, combine)
        self.endpoint = endpoint
        self.method = method
        self.query_params = query_params
        self.json = json
        self.data = data
        self.headers = headers
        self.oauth_conn_id = oauth_conn_id
        self.response_check = response_check
        self.response_filter = response_filter
        self.pagination = pagination
        self.combine = combine
        self.timeout = timeout
        self.retry = retry
        self.replayable = replayable
        self.check_response = check_response
        self.log_response = log_response
        self.destination = destination
        self.incremental = incremental
        self.deferrable = (
            False if destination is not None else (config.default_deferrable() if deferrable is None else deferrable)
        )

    @property
    def call(self) -> ApiCall:
        return ApiCall(
            method=self.method,
            json=self.json,
            data=self.data,
            headers=self.headers,
            replayable=self.replayable,
            check_response=self.check_response,
        )

    @property
    def hook(self) -> OAuthConnectorHook:
        return OAuthConnectorHook(self.oauth_conn_id, timeout=self.timeout, retry=self.retry)

    def execute(self, context: Context) -> Any:
        first = PageRequest(endpoint=self.endpoint, params=dict(self.query_params or {}))
        if self.destination is not None:
            return self.land(self.destination, first, context)
        if self.deferrable:
            self.defer_page(self.pagination.first_request(first) if self.pagination else first, [], context)
        hook = self.hook
        pages = []
        for page in iterate_pages(lambda request: self._send(hook, request), first, self.pagination):
            self._check(hook, page.response, context)
            pages.append(page)
        self._log_summary(pages)
        return self.result(pages, context)

    def land(self, destination: Destination, first: PageRequest, context: Context) -> dict[str, Any]:
        """Stream every page's records into ``destination``, commit once, then store the incremental mark."""
        run = RunKey.from_context(context)
        load = destination.open(run)  # raises before any API call when the destination cannot be written
        hook = self.hook
        key, tracker = None, None
        try:
            if self.incremental is not None:
                key = self.incremental.variable_key(run.dag_id, run.task_id, self.oauth_conn_id)
                mark = self.incremental.load(key)
                tracker = self.incremental.tracker(mark)
                if mark is not None and self.incremental.request_param:
                    first = PageRequest(first.endpoint, {**first.params, self.incremental.request_param: mark})
            pages = records = size = 0
            for page in iterate_pages(lambda request: self._send(hook, request), first, self.pagination):
                self._check(hook, page.response, context)
                batch = _page_records(page)
                load.write(batch)
                if tracker is not None:
                    tracker.observe(batch)
                pages, records, size = pages + 1, records + len(batch), size + len(page.response.content or b"")
            manifest = load.commit()
        except BaseException:
            load.abort()
            raise
        result: dict[str, Any] = {"records": records, "pages": pages}
        if self.incremental is not None and tracker is not None and key is not None:
            if tracker.value is not None:
                _store_mark(self.incremental, key, tracker.value, run.run_id, destination.describe(), records)
            result["cursor"] = tracker.value
        result.update(manifest)
        if self.log_response:
            self.log.info(
                "%s %s: %d page(s), %d record(s), %d bytes landed in %s",
                self.method.upper(),
                self.endpoint or "/",
                pages,
                records,
                size,
                destination.describe(),
            )
        return result

    def _log_summary(self, pages: list[Page]) -> None:
        if not self.log_response:
            return
        size = sum(len(p.response.content or b"") for p in pages)
        records = sum(len(p.records) for p in pages if p.records is not None)
        statuses = sorted({p.response.status_code for p in pages})
        self.log.info(
            "%s %s: %d page(s), %d record(s), %d bytes, HTTP %s",
            self.method.upper(),
            self.endpoint or "/",
            len(pages),
            records,
            size,
            "/".join(map(str, statuses)),
        )

    def defer_page(self, request: PageRequest, done: list[dict[str, Any]], context: Context) -> None:
        """Hand the call for ``request`` to the triggerer; ``done`` carries the pages fetched so far."""
        from airflow_oauth_connector.triggers.oauth import OAuthConnectorTrigger

        self.defer(
            trigger=OAuthConnectorTrigger(
                oauth_conn_id=self.oauth_conn_id,
                method=self.method,
                request=request.serialize(),
                json=self.json,
                data=self.data,
                headers=dict(self.headers) if self.headers else None,
                timeout=self.timeout,
                retry=_retry_as_dict(self.retry),
                replayable=self.replayable,
                check_response=self.check_response,
                marker=_at_most_once_marker(context, request),
            ),
            method_name="execute_complete",
            kwargs={"request": request.serialize(), "done": done},
        )

    def execute_complete(
        self, context: Context, event: dict[str, Any], request: dict[str, Any], done: list[dict[str, Any]]
    ) -> Any:
        """Back from the triggerer with one page: check it, then defer for the next page or finish."""
        from airflow_oauth_connector.events import error_from_event, response_from_event

        if event.get("status") != "success":
            raise error_from_event(event)  # the error's own type (e.g. InvalidGrantError), as without deferral
        page = make_page(self.pagination, PageRequest.deserialize(request), response_from_event(event["response"]))
        self._check(self.hook, page.response, context)
        done = [*done, {"request": request, "response": event["response"]}]
        following = following_request(self.pagination, page)
        if following is not None:
            self.defer_page(following, done, context)
        pages = [
            make_page(self.pagination, PageRequest.deserialize(d["request"]), response_from_event(d["response"]))
            for d in done
        ]
        return self.result(pages, context)

    def _send(self, hook: OAuthConnectorHook, request: PageRequest) -> requests.Response:
        response = self.call.send(hook, request)
        if self.log_response:
            self.log.debug(
                "Page %d: HTTP %d, %d bytes", request.number, response.status_code, len(response.content or b"")
            )
        return response

    def _check(self, hook: OAuthConnectorHook, response: requests.Response, context: Context) -> None:
        if self.response_check is None:
            return
        if not _call_with_context(self.response_check, response, context):
            excerpt = hook.excerpt(response)
            raise ResponseCheckError(
                f"response_check failed for {response.request.method} page (HTTP {response.status_code})"
                + (f": {excerpt}" if excerpt else "")
            )

    def result(self, pages: list[Page], context: Context) -> Any:
        """What goes to XCom (override for custom shaping)."""
        if self.response_filter is not None:
            responses: Any = [p.response for p in pages] if self.pagination else pages[0].response
            return _call_with_context(self.response_filter, responses, context)
        if self.pagination is None:
            return _body(pages[0].response)
        combine = self.combine or ("records" if self.pagination.records_path is not None else "pages")
        if combine == "pages":
            return [_body(p.response) for p in pages]
        records: list[Any] = []
        for page in pages:
            records.extend(page.records or [])
        return records


def _store_mark(incremental: Incremental, key: str, mark: Any, run_id: str, landed: str, records: int) -> None:
    """Store the new mark after the commit; a failure says how to store it by hand (the data is already in)."""
    try:
        incremental.save(key, mark, run_id)
    except Exception as error:  # the Task SDK already retried the request: say what is committed and what to do
        raise IncrementalMarkError(key, mark, landed, records, type(error).__name__) from error


def _check_landing(
    destination: Destination | None,
    incremental: Incremental | None,
    deferrable: bool | None,
    response_filter: Callable[..., Any] | None,
    combine: str | None,
) -> None:
    """Refuse argument combinations a landing task cannot honour (at DAG parse time)."""
    if incremental is not None and destination is None:
        raise ValueError("incremental needs a destination: the mark is stored once the destination has committed")
    if destination is None:
        return
    if deferrable:
        raise ValueError(
            "deferrable=True cannot be combined with a destination: a load streams pages from one worker "
            "process into the destination's staging area. Use a non-deferrable task (or a deferrable "
            "OAuthConnectorSensor to wait for the data first)"
        )
    if response_filter is not None or combine is not None:
        raise ValueError("response_filter and combine shape XCom; with a destination the records are landed")


def _page_records(page: Page) -> list[Any]:
    """A page's records: those at the paginator's ``records_path``, else a list body, else the body itself."""
    if page.records is not None:
        return page.records
    if isinstance(page.data, list):
        return page.data
    if page.data is None:
        return []
    return [page.data]


def _retry_as_dict(retry: RetryOverride) -> dict[str, Any] | None:
    if retry is None:
        return None
    if isinstance(retry, Mapping):
        return dict(retry)
    return dataclasses.asdict(retry)


def _at_most_once_marker(context: Context, request: PageRequest) -> str | None:
    ti = context.get("ti") if hasattr(context, "get") else None
    if ti is None:
        return None
    parts = [ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1), getattr(ti, "try_number", 0)]
    return "request:" + ":".join(str(p) for p in [*parts, request.number])


def _body(response: requests.Response) -> Any:
    data = parse_body(response)
    if data is None and response.content:
        return response.text
    return data


def _call_with_context(func: Callable[..., Any], value: Any, context: Context) -> Any:
    """Call ``func(value, **kwargs)`` passing only the context keys it accepts (like HttpOperator)."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return func(value)
    parameters = list(signature.parameters.values())[1:]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return func(value, **dict(context))
    names = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return func(value, **{k: v for k, v in dict(context).items() if k in names})
