"""Hostile or broken input from servers and links: only documented exception types, bounded work."""

from __future__ import annotations

import pytest

from airflow_oauth_connector.exceptions import ForeignOriginError, TokenResponseError
from airflow_oauth_connector.hooks import OAuthConnectorHook
from tests.support.builders import CLIENT_SECRET, TOKEN_URL, make_client, make_profile, set_connection
from tests.support.fake_http import FakeTransport


def token_endpoint(body: bytes, content_type: str = "application/json"):
    transport = FakeTransport()
    transport.route("POST", TOKEN_URL, lambda r: (200, {"Content-Type": content_type}, body))
    return make_client(make_profile(), transport)


def test_oversized_token_response_is_refused():
    body = b'{"access_token": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    with pytest.raises(TokenResponseError, match="over 1024 KiB"):
        token_endpoint(body).client_credentials()


def test_deeply_nested_json_is_a_clear_error():
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(TokenResponseError):
        token_endpoint(body).client_credentials()
    nested = b'{"access_token": "x", "a": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_000 + b"}"
    with pytest.raises(TokenResponseError):
        token_endpoint(nested).client_credentials()


@pytest.mark.parametrize("body", [b"\xff\xfe\x00junk", b'{"access_token": "\xc3\x28"}', b"\x00" * 64])
def test_non_utf8_bodies_are_a_clear_error(body):
    with pytest.raises(TokenResponseError):
        token_endpoint(body, "application/octet-stream").client_credentials()


@pytest.mark.parametrize(
    "link",
    [
        "file:///etc/passwd",
        "http://api.example.com/v1/items?page=2",  # https -> http downgrade
        "https://api.example.com.evil.test/v1/items",
        "https://api.example.com:8443/v1/items",
        "//evil.test/v1/items",
    ],
)
def test_links_to_other_origins_are_refused(monkeypatch, link):
    set_connection(monkeypatch, "hostile")
    hook = OAuthConnectorHook("hostile")
    if link.startswith("//"):
        link = "https:" + link
    with pytest.raises(ForeignOriginError) as info:
        hook.url_for(link)
    assert CLIENT_SECRET not in str(info.value)
