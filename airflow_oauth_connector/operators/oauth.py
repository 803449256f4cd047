"""OAuthConnectorOperator: call an OAuth 2.0-protected API endpoint (with pagination) from a task."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_oauth_connector.exceptions import OAuthConnectorError
from airflow_oauth_connector.hooks.oauth import OAuthConnectorHook, RetryOverride
from airflow_oauth_connector.pagination import Page, PageRequest, Paginator, iterate_pages, parse_body

if TYPE_CHECKING:
    import requests
    from airflow.sdk import Context

_EXCERPT = 200


class ResponseCheckFailed(OAuthConnectorError):
    """``response_check`` returned a false value for a response."""


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
    :param log_response: log each page's status and size (never the body).
    """

    template_fields: Sequence[str] = ("endpoint", "method", "query_params", "json", "data", "headers")
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if combine not in (None, "records", "pages"):
            raise ValueError("combine must be 'records' or 'pages'")
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

    @property
    def hook(self) -> OAuthConnectorHook:
        return OAuthConnectorHook(self.oauth_conn_id, timeout=self.timeout, retry=self.retry)

    def execute(self, context: Context) -> Any:
        hook = self.hook
        first = PageRequest(endpoint=self.endpoint, params=dict(self.query_params or {}))
        pages = []
        for page in iterate_pages(lambda request: self._send(hook, request), first, self.pagination):
            self._check(hook, page.response, context)
            pages.append(page)
        return self.result(pages, context)

    def _send(self, hook: OAuthConnectorHook, request: PageRequest) -> requests.Response:
        response = hook.run(
            request.endpoint,
            self.method,
            params=request.params,
            json=self.json,
            data=self.data,
            headers=self.headers,
            replayable=self.replayable,
            check_response=self.check_response,
        )
        if self.log_response:
            self.log.info(
                "Page %d: HTTP %d, %d bytes", request.number, response.status_code, len(response.content or b"")
            )
        return response

    def _check(self, hook: OAuthConnectorHook, response: requests.Response, context: Context) -> None:
        if self.response_check is None:
            return
        if not _call_with_context(self.response_check, response, context):
            excerpt = hook.excerpt(response)
            raise ResponseCheckFailed(
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
