"""What crosses a deferral as JSON: a response's kept parts, and a provider error that keeps its type."""

from __future__ import annotations

import json

import httpx
import pytest

from airflow_oauth_connector import events
from airflow_oauth_connector.exceptions import (
    ApiResponseError,
    DeferredCallFailed,
    InvalidGrantError,
    OAuthConnectorError,
)
from tests.support.builders import make_response

URL = "https://api.example.com/v1/items?page=2"


def _through_json(event: dict[str, object]) -> dict[str, object]:
    return json.loads(json.dumps(event))  # as the metadata DB hands it back to the task


def test_a_requests_response_comes_back_with_status_url_kept_headers_and_body() -> None:
    response = make_response(
        200, {"items": [1, 2]}, {"Link": '<https://api.example.com/v1/items?page=3>; rel="next"', "X-Other": "no"}
    )
    response.url = URL
    back = events.response_from_event(_through_json(events.response_to_event(response)))
    assert (back.status_code, back.url, back.json()) == (200, URL, {"items": [1, 2]})
    assert back.headers["Link"].endswith('rel="next"')
    assert "X-Other" not in back.headers
    assert back.links["next"]["url"] == "https://api.example.com/v1/items?page=3"


def test_an_httpx_response_decodes_as_requests_would_and_keeps_its_method() -> None:
    request = httpx.Request("POST", URL)
    body = "Grüße".encode("latin-1")
    response = httpx.Response(
        201, headers={"Content-Type": "text/plain; charset=latin-1"}, content=body, request=request
    )
    event = _through_json(events.response_to_event(response))
    assert (event["status_code"], event["reason"], event["method"]) == (201, "Created", "POST")
    back = events.response_from_event(event)
    assert back.text == "Grüße"
    assert back.request.method == "POST"
    assert back.headers["Content-Type"] == "text/plain; charset=latin-1"


def test_a_provider_error_keeps_its_type_and_arguments() -> None:
    raised = InvalidGrantError("invalid_grant", "refresh token revoked", status_code=400, conn_id="my_api")
    event = _through_json(events.error_to_event(raised))
    assert (event["status"], event["error_type"]) == ("error", "InvalidGrantError")
    back = events.error_from_event(event)
    assert type(back) is InvalidGrantError
    assert str(back) == str(raised)
    with pytest.raises(InvalidGrantError):  # ``except InvalidGrantError`` matches after the deferral
        raise back


def test_strings_of_a_provider_error_lose_their_url_queries() -> None:
    raised = ApiResponseError("GET", "https://api.example.com/v1/x?api_key=SECRET-Q", 500, "Server Error", "")
    event = _through_json(events.error_to_event(raised))
    assert "SECRET-Q" not in json.dumps(event)
    assert type(events.error_from_event(event)) is ApiResponseError


def test_any_other_error_comes_back_as_deferred_call_failed_with_its_type_and_message() -> None:
    back = events.error_from_event(_through_json(events.error_to_event(ValueError("bad value"))))
    assert type(back) is DeferredCallFailed
    assert back.error_type == "ValueError"
    assert str(back) == "ValueError: bad value"


def test_an_unknown_class_or_arguments_of_another_version_fall_back() -> None:
    event = _through_json(events.error_to_event(InvalidGrantError("invalid_grant")))
    unknown = {**event, "error": {**event["error"], "class": "elsewhere.NotOurs"}}  # type: ignore[dict-item]
    assert type(events.error_from_event(unknown)) is DeferredCallFailed
    wrong_args = {**event, "error": {**event["error"], "args": [], "kwargs": {"no_such": 1}}}  # type: ignore[dict-item]
    assert type(events.error_from_event(wrong_args)) is DeferredCallFailed


def test_an_error_whose_arguments_are_not_json_travels_as_type_and_message() -> None:
    raised = OAuthConnectorError(object())
    event = events.error_to_event(raised)
    assert "error" not in event
    json.dumps(event)
    assert type(events.error_from_event(event)) is DeferredCallFailed
