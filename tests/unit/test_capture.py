"""Values captured at authorization: callback parameters (realmId) and one post-authorization API call."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from airflow_oauth_connector import capture
from airflow_oauth_connector.exceptions import CaptureError
from airflow_oauth_connector.token import Token
from tests.support.builders import make_profile
from tests.support.fake_http import FakeTransport

WHOAMI = "https://api.example.com/v1/whoami"
ACCESS = "access-token-CAPTURE-1"


def _profile(**extra: Any):
    return make_profile({"grant_type": "authorization_code", "authorize_url": "https://auth.example.com/a", **extra})


def _session(transport: FakeTransport) -> requests.Session:
    session = requests.Session()
    session.mount("https://", transport)
    return session


def test_callback_values_keep_only_the_names_the_connection_captures() -> None:
    profile = _profile(capture_callback=["realmId"])
    values = capture.callback_values(profile, {"code": "c", "state": "s", "realmId": "4620816365"})
    assert values == {"realmId": "4620816365"}
    assert capture.callback_values(_profile(), {"code": "c"}) == {}


@pytest.mark.parametrize("params", [{"code": "c"}, {"code": "c", "realmId": ""}])
def test_a_missing_callback_value_is_an_error_naming_it(params: dict[str, str]) -> None:
    with pytest.raises(CaptureError, match="carries no 'realmId' parameter"):
        capture.callback_values(_profile(capture_callback=["realmId"]), params)


@pytest.mark.parametrize("value", ["x" * 2049, "line\r\nInjected: header", "nul\0"])
def test_a_malformed_value_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(CaptureError, match="'realmId' is malformed") as caught:
        capture.callback_values(_profile(capture_callback=["realmId"]), {"realmId": value})
    assert value not in str(caught.value)


def _post_authorize_profile() -> Any:
    return _profile(post_authorize={"url": WHOAMI, "capture": {"who": "user.id", "site": "sites.0.name"}})


def test_the_post_authorization_call_sends_the_new_token_and_keeps_the_named_values() -> None:
    transport = FakeTransport()
    transport.route("GET", WHOAMI, lambda _r: (200, {}, {"user": {"id": 42}, "sites": [{"name": "main"}]}))
    token = Token(access_token=ACCESS)
    values = capture.post_authorize_values(_post_authorize_profile(), token, _session(transport))
    assert values == {"who": "42", "site": "main"}
    (call,) = transport.requests
    assert call.headers["Authorization"] == f"Bearer {ACCESS}"
    assert call.headers["Accept"] == "application/json"


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ((403, {}, {"error": "forbidden"}), "answered HTTP 403"),
        ((200, {}, "<html>not json</html>"), "did not answer JSON"),
        ((200, {}, {"user": {}}), "has no 'user.id' for 'who'"),
        ((200, {}, {"user": {"id": True}, "sites": [{"name": "x"}]}), "has no 'user.id'"),
    ],
)
def test_a_failed_or_incomplete_post_authorization_call_stores_nothing(reply: Any, problem: str) -> None:
    transport = FakeTransport()
    transport.route("GET", WHOAMI, lambda _r: reply)
    with pytest.raises(CaptureError, match=problem) as caught:
        capture.post_authorize_values(_post_authorize_profile(), Token(access_token=ACCESS), _session(transport))
    assert "nothing was stored" in str(caught.value)
    assert ACCESS not in str(caught.value)


def test_a_transport_failure_names_its_type_only() -> None:
    transport = FakeTransport()

    def refuse(_request: requests.PreparedRequest) -> Any:
        raise requests.ConnectionError(f"connection refused, token {ACCESS}")

    transport.route("GET", WHOAMI, refuse)
    with pytest.raises(CaptureError, match=r"failed \(ConnectionError\)") as caught:
        capture.post_authorize_values(_post_authorize_profile(), Token(access_token=ACCESS), _session(transport))
    assert ACCESS not in str(caught.value)


def test_complete_adds_callback_and_post_authorization_values_to_the_token() -> None:
    transport = FakeTransport()
    transport.route("GET", WHOAMI, lambda _r: (200, {}, {"user": {"id": "u-1"}, "sites": [{"name": "s"}]}))
    profile = _profile(capture_callback=["realmId"], post_authorize={"url": WHOAMI, "capture": {"who": "user.id"}})

    class Client:
        session = _session(transport)

    token = capture.complete(profile, Token(access_token=ACCESS), {"realmId": "r-9"}, Client())
    assert token.captured == {"realmId": "r-9", "who": "u-1"}
    assert dict(capture.complete(_profile(), Token(access_token=ACCESS), {}, Client()).captured) == {}


def test_after_grant_adds_the_post_authorization_values_to_a_machine_token() -> None:
    transport = FakeTransport()
    transport.route("GET", WHOAMI, lambda _r: (200, {}, {"user": {"id": "svc-1"}}))
    profile = make_profile({"post_authorize": {"url": WHOAMI, "capture": {"who": "user.id"}}})

    class Client:
        session = _session(transport)

    token = capture.after_grant(profile, Token(access_token=ACCESS), Client())
    assert dict(token.captured) == {"who": "svc-1"}
    assert capture.after_grant(make_profile(), Token(access_token=ACCESS), Client()).captured == {}


def test_a_failed_call_after_a_machine_grant_says_try_again_not_authorize() -> None:
    transport = FakeTransport()
    transport.route("GET", WHOAMI, lambda _r: (500, {}, {"error": "down"}))
    profile = make_profile({"post_authorize": {"url": WHOAMI, "capture": {"who": "user.id"}}})

    class Client:
        session = _session(transport)

    with pytest.raises(CaptureError, match="try again") as caught:
        capture.after_grant(profile, Token(access_token=ACCESS), Client())
    assert "authorize" not in str(caught.value).lower()
